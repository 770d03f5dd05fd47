"""KubeRayStopJobOperator against a real local Ray head."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
from airflow_provider_kuberay.operators import KubeRayStopJobOperator
from airflow_provider_kuberay.operators._job_submission import TRY_METADATA_KEY, JobSubmission
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


def _ended(hook: RayDashboardHook, sid: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while (status := hook.get_job_status(sid)) not in ("STOPPED", "FAILED", "SUCCEEDED"):
        assert time.monotonic() < deadline, f"job {sid} still {status} after {timeout:.0f}s"
        time.sleep(0.2)
    return status


@pytest.mark.parametrize("round_", range(3))
def test_a_job_stopped_in_one_try_runs_again_under_its_id_in_the_next(ray_head: Any, round_: int) -> None:
    """
    Resubmitting an id at once after its job was stopped races Ray's watch of the old supervisor,
    which then marks the new job "Job supervisor actor died" (what a cleared task met in the deploy
    tier). The next try must get a job that really runs.
    """
    hook = RayDashboardHook(None, dashboard_url=ray_head.dashboard_url)
    sid = f"again-{uuid.uuid4().hex[:8]}"

    def submission(try_number: int, entrypoint: str) -> JobSubmission:
        return JobSubmission(
            entrypoint=entrypoint,
            submission_id=sid,
            try_number=try_number,
            owner_key="dag/run/task/-1",
            metadata={TRY_METADATA_KEY: str(try_number)},
        )

    submission(1, 'python -c "import time; time.sleep(300)"').submit_or_adopt(hook, {})
    deadline = time.monotonic() + 60
    while hook.get_job_status(sid) != "RUNNING":
        assert time.monotonic() < deadline, "the first try's job never ran"
        time.sleep(0.2)
    hook.stop_job(sid)
    assert _ended(hook, sid) == "STOPPED"
    said = submission(2, "python -c \"print('second try')\"").submit_or_adopt(hook, {})
    assert "submitted it again for try 2" in said
    assert _ended(hook, sid) == "SUCCEEDED", hook.get_job_info(sid).get("message")
    assert "second try" in hook.get_job_logs(sid)
