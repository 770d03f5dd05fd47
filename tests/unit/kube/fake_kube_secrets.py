"""The fake Kubernetes API server, also answering ``get`` on Secrets (the Ray token of a cluster)."""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web

from tests.support.fake_kube_api import FakeKubeApi, _status_response


def ray_token_secret_body(name: str, token: str) -> dict[str, Any]:
    """A Secret as KubeRay keeps a cluster's Ray token, as the API returns it."""
    return {"metadata": {"name": name}, "data": {"auth_token": base64.b64encode(token.encode()).decode()}}


class FakeKubeApiWithSecrets(FakeKubeApi):
    """The fake API server, also answering ``get`` on Secrets."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}

    def _app(self) -> web.Application:
        app = super()._app()
        app.router.add_get("/api/v1/namespaces/{ns}/secrets/{name}", self._secret)
        return app

    async def _secret(self, request: web.Request) -> web.Response:
        key = (request.match_info["ns"], request.match_info["name"])
        if key not in self.secrets:
            return _status_response(404, "NotFound", f'secrets "{key[1]}" not found')
        return web.json_response(self.secrets[key])
