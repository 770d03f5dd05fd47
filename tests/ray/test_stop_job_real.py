"""KubeRayStopJobOperator against a real local Ray head."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
from airflow_provider_kuberay.operators import KubeRayStopJobOperator
from tests.support.airflow_context import context_for

pytestmark = pytest.mark.ray


def test_stop_ends_a_running_job_and_a_second_stop_is_a_no_op(ray_head: Any) -> None:
    hook = RayDashboardHook(None, dashboard_url=ray_head.dashboard_url)
    sid = f"stop-me-{uuid.uuid4().hex[:8]}"
    hook.submit_job(entrypoint='python -c "import time; time.sleep(300)"', submission_id=sid)
    stop = KubeRayStopJobOperator(
        task_id="stop",
        submission_id=sid,
        ray_dashboard_conn_id=None,
        dashboard_url=ray_head.dashboard_url,
        poll_interval=0.5,
        timeout_seconds=120,
    )
    assert stop.execute(context_for()) is True
    assert hook.get_job_status(sid) == "STOPPED"
    assert stop.execute(context_for()) is False
    stop.submission_id = f"never-{uuid.uuid4().hex[:8]}"
    assert stop.execute(context_for()) is False
