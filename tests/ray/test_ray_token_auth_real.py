"""
A real Ray head with token authentication (``RAY_AUTH_MODE=token``): the right token is accepted
as ``Authorization`` (a ``ray_dashboard`` connection's password, or direct/url access to a KubeRay
cluster) and as ``X-Ray-Authorization`` (through the API server's proxy); a wrong or missing one
fails with a message that says the token was refused, and never shows the token.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from unittest import mock

import pytest

from airflow_provider_kuberay.exceptions import RayDashboardError
from airflow_provider_kuberay.hooks.dashboard_access import with_ray_token
from airflow_provider_kuberay.hooks.dashboard_endpoint import DashboardEndpoint
from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook

TOKEN = secrets.token_hex(24)


def _token_head() -> object:
    from devtools.local_ray import LocalRayHead

    class TokenRayHead(LocalRayHead):
        """The shared local head, started with token auth; its own readiness probe sends the token."""

        def _request(self, path: str, method: str = "GET", body: bytes | None = None) -> tuple[int, str]:
            headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
            request = urllib.request.Request(self.dashboard_url + path, data=body, headers=headers, method=method)
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    return answer.status, answer.read().decode()
            except urllib.error.HTTPError as err:
                return err.code, err.read().decode()

        def _get(self, path: str) -> tuple[int, str]:
            return self._request(path)

        def _post(self, path: str, body: dict[str, object]) -> tuple[int, str]:
            return self._request(path, "POST", json.dumps(body).encode())

        def _delete(self, path: str) -> None:
            self._request(path, "DELETE")

    return TokenRayHead(num_cpus=1)


@pytest.fixture(scope="module")
def token_head() -> Iterator[object]:
    head = _token_head()
    with mock.patch.dict(os.environ, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": TOKEN}):
        head.start()  # type: ignore[attr-defined]
    try:
        yield head
    finally:
        head.stop()  # type: ignore[attr-defined]


def _hook(head: object, headers: dict[str, str]) -> RayDashboardHook:
    return RayDashboardHook(None, endpoint=DashboardEndpoint(url=head.dashboard_url, headers=headers))  # type: ignore[attr-defined]


def test_the_right_token_is_accepted_as_either_header(token_head: object) -> None:
    plain = DashboardEndpoint(url=token_head.dashboard_url)  # type: ignore[attr-defined]
    for through_proxy in (False, True):
        endpoint = with_ray_token(plain, TOKEN, through_proxy=through_proxy)
        assert isinstance(RayDashboardHook(None, endpoint=endpoint).list_jobs(), list)


def test_a_ray_dashboard_connections_password_is_the_token(token_head: object, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "ray_dashboard", "host": token_head.dashboard_url, "password": TOKEN}  # type: ignore[attr-defined]
    monkeypatch.setenv("AIRFLOW_CONN_RAY_WITH_TOKEN", json.dumps(conn))
    assert isinstance(RayDashboardHook("ray_with_token").list_jobs(), list)


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer wrong-token"}, {}], ids=["wrong", "missing"])
def test_a_wrong_or_missing_token_fails_clearly(token_head: object, headers: dict[str, str]) -> None:
    with pytest.raises(RayDashboardError) as info:
        _hook(token_head, headers).list_jobs()
    text = str(info.value)
    assert info.value.http_status in (401, 403), text
    assert "refused the Ray token" in text, text
    assert TOKEN not in text
    assert "wrong-token" not in text
