"""A small Ray Serve app for the RayService example: answers ``{greeting}, {name}! (model vN)``.

``greeting`` and ``model_version`` come from the deployment's ``user_config``, so a Serve-config
upgrade (no new cluster) is visible in the answers. Not a DAG (listed in ``.airflowignore``).
"""

from __future__ import annotations

from typing import Any

from ray import serve


@serve.deployment(ray_actor_options={"num_cpus": 0.1})
class Greeter:
    def __init__(self) -> None:
        self.greeting = "Hello"
        self.model_version = 1

    def reconfigure(self, config: dict[str, Any]) -> None:
        # Called with user_config on start and on every config change, without a restart.
        self.greeting = str(config.get("greeting", self.greeting))
        self.model_version = int(config.get("model_version", self.model_version))

    async def __call__(self, request: Any) -> dict[str, Any]:
        name = request.query_params.get("name", "world")
        return {"message": f"{self.greeting}, {name}!", "model_version": self.model_version}


app = Greeter.bind()  # type: ignore[attr-defined]
