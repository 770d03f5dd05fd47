"""A tiny Ray Serve app on the harness's Ray head (its directory is on the head's PYTHONPATH).

RayService tests against the harness use ``import_path: harness_echo:app``; ``greeting`` comes
from the deployment's ``user_config`` so an in-place config upgrade is observable.
"""

from __future__ import annotations

from typing import Any

from ray import serve


class Echo:
    def __init__(self) -> None:
        self.greeting = "hello"

    def reconfigure(self, config: dict[str, Any]) -> None:
        self.greeting = str(config.get("greeting", self.greeting))

    async def __call__(self, request: Any) -> str:
        return f"{self.greeting} from the harness"


# Called, not as a class decorator: mypy keeps a decorated class's own type, and Ray types only the
# called form as returning a Deployment.
app = serve.deployment()(Echo).bind()
