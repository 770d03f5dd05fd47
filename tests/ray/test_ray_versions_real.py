"""
What differs between the Ray versions the provider supports, on the real head: the matrix's Ray cells
start heads of several versions (``make test-matrix``), and these tests say which one they got and
that following a job's log works on it through the endpoint that Ray serves.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from airflow_provider_kuberay.hooks import ray_jobs_api as api
from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
from airflow_provider_kuberay.hooks.ray_dashboard_async import RayDashboardAsyncHook

pytestmark = pytest.mark.ray

# Set by the matrix runner (devtools/matrix) to the Ray its cell installed for the head.
EXPECTED_RAY = os.environ.get("KUBERAY_TEST_RAY_VERSION")


def _ray_version(dashboard_url: str) -> str:
    with urllib.request.urlopen(dashboard_url + "/api/version", timeout=10) as answer:
        return str(json.load(answer)["ray_version"])


def _serves_log_stream(dashboard_url: str, submission_id: str, driver_node_id: str | None) -> bool:
    """Whether this Ray answers the state API's log stream for the job (Ray without it answers 404)."""
    if not driver_node_id:
        return False
    try:
        with urllib.request.urlopen(dashboard_url + api.job_log_stream_path(submission_id, driver_node_id), timeout=10):
            return True
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return False
        raise


def test_the_head_runs_the_ray_the_cell_asked_for(ray_head: Any) -> None:
    version = _ray_version(ray_head.dashboard_url)
    assert version.startswith("2."), version
    if EXPECTED_RAY:
        assert version == EXPECTED_RAY


def test_log_follow_works_through_the_endpoint_this_ray_serves(ray_head: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The state API's log stream where Ray serves it as plain text; else the Jobs API's log tail, the fallback."""
    hook = RayDashboardHook(None, dashboard_url=ray_head.dashboard_url)
    sid = f"follow-{uuid.uuid4().hex[:8]}"
    hook.submit_job(
        entrypoint="python -u -c \"import time; print('first'); time.sleep(2); print('second')\"", submission_id=sid
    )
    tails: list[str] = []
    original_tail = RayDashboardAsyncHook.tail_job_logs

    def counting_tail(self: RayDashboardAsyncHook, submission_id: str) -> Any:
        tails.append(submission_id)
        return original_tail(self, submission_id)

    monkeypatch.setattr(RayDashboardAsyncHook, "tail_job_logs", counting_tail)

    async def follow() -> str:
        text = ""
        async with RayDashboardAsyncHook(None, dashboard_url=ray_head.dashboard_url) as async_hook:
            async for chunk in async_hook.follow_job_log(sid):
                text += chunk
                if "second" in text.splitlines():  # the line, not the echoed entrypoint
                    return text
        return text

    text = asyncio.run(asyncio.wait_for(follow(), timeout=120))
    lines = text.splitlines()
    assert "first" in lines  # whole lines: nothing of the transport (a status byte) mixed in
    assert "second" in lines
    version = _ray_version(ray_head.dashboard_url)
    has_stream = _serves_log_stream(ray_head.dashboard_url, sid, hook.get_job_info(sid).get("driver_node_id"))
    streamed = has_stream and api.serves_plain_log_stream(version)
    assert tails == ([] if streamed else [sid]), f"Ray {version}: log stream endpoint={has_stream}"
