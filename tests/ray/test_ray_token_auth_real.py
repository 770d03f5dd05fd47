"""
A real Ray head with token authentication on (``RAY_AUTH_MODE=token``, started by the one launcher
with its token in a file): the ``ray_dashboard`` connection's password is the token; with the
right one a job is submitted and followed to its end (log included), with a wrong or missing one
the task fails with a message that names the cause and never shows a token. The header the
``kuberay`` path sends through the API server's proxy (``X-Ray-Authorization``) is accepted too.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from airflow_provider_kuberay.exceptions import RayDashboardError
from airflow_provider_kuberay.hooks.dashboard_access import with_ray_token
from airflow_provider_kuberay.hooks.dashboard_endpoint import DashboardEndpoint
from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
from airflow_provider_kuberay.operators import KubeRaySubmitJobOperator
from tests.support.airflow_context import FakeTaskInstance, context_for

pytestmark = pytest.mark.ray

WRONG = "wrong-" + "0" * 24


def _connection(monkeypatch: pytest.MonkeyPatch, head: Any, password: str | None) -> str:
    conn: dict[str, Any] = {"conn_type": "ray_dashboard", "host": head.dashboard_url}
    if password is not None:
        conn["password"] = password
    monkeypatch.setenv("AIRFLOW_CONN_RAY_WITH_TOKEN", json.dumps(conn))
    return "ray_with_token"


def _submit(conn_id: str, task_id: str) -> KubeRaySubmitJobOperator:
    return KubeRaySubmitJobOperator(
        task_id=task_id,
        entrypoint="python -c \"import ray; ray.init(); print('sum', ray.get(ray.remote(lambda: 40 + 2).remote()))\"",
        ray_dashboard_conn_id=conn_id,
        deferrable=False,
        poll_interval=0.5,
    )


def test_the_head_really_refuses_requests_without_its_token(token_ray_head: Any) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{token_ray_head.dashboard_url}/api/jobs/", timeout=30)
    assert info.value.code in (401, 403)


def test_the_right_token_submits_and_follows_a_job(
    token_ray_head: Any, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    ti = FakeTaskInstance(task_id="token_ok")
    conn_id = _connection(monkeypatch, token_ray_head, token_ray_head.auth_token)
    _submit(conn_id, ti.task_id).execute(context_for(ti))
    assert ti.xcoms["job_status"] == "SUCCEEDED"
    out = "".join(capfd.readouterr())
    assert "[ray] sum 42" in out  # the log was followed with the token too
    assert token_ray_head.auth_token not in out
    assert token_ray_head.auth_token not in json.dumps(ti.xcoms, default=str)


@pytest.mark.parametrize("password", [WRONG, None], ids=["wrong", "missing"])
def test_a_wrong_or_missing_token_fails_the_task_naming_the_cause(
    token_ray_head: Any, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], password: str | None
) -> None:
    ti = FakeTaskInstance(task_id=f"token_{password is None}")
    with pytest.raises(RayDashboardError) as info:
        _submit(_connection(monkeypatch, token_ray_head, password), ti.task_id).execute(context_for(ti))
    text = str(info.value)
    assert info.value.http_status in (401, 403), text
    assert "refused the Ray token" in text, text
    assert "ray_dashboard connection's password" in text
    out = "".join(capfd.readouterr())
    for secret in (token_ray_head.auth_token, WRONG):
        assert secret not in text
        assert secret not in out


def test_the_proxy_header_carries_the_token_too(token_ray_head: Any) -> None:
    endpoint = with_ray_token(
        DashboardEndpoint(url=token_ray_head.dashboard_url), token_ray_head.auth_token, through_proxy=True
    )
    assert "X-Ray-Authorization" in endpoint.headers
    assert isinstance(RayDashboardHook(None, endpoint=endpoint).list_jobs(), list)
