"""KubeRayStopJobOperator against a real local Ray head."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
from airflow_provider_kuberay.operators import KubeRayStopJobOperator
from airflow_provider_kuberay.operators._job_submission import TRY_METADATA_KEY, JobSubmission
from tests.support.airflow_context import context_for

pytestmark = pytest.mark.ray


def _sleeper(marker: str) -> str:
    """A job entrypoint that runs until stopped, its command line carrying ``marker``."""
    return f'python -c "import time; time.sleep(300)" {marker}'


def _processes_carrying(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return found


@pytest.fixture
def marker() -> Iterator[str]:
    """
    A marker for the test's long-running entrypoints. After the test, the processes carrying it get
    20 s to be gone; any left are then ended by PID, saying so: on this local head, Ray reported the
    stopped job STOPPED while its entrypoint's process ran on (seen in the stop operator's test), and
    the session's leak check would otherwise report a process this test started.
    """
    tag = f"test-stop-{uuid.uuid4().hex[:8]}"
    yield tag
    deadline = time.monotonic() + 20
    while (left := _processes_carrying(tag)) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in left:
        print(f"Ray left the stopped job's process {pid} running; ending it")
        os.kill(pid, signal.SIGKILL)


def test_stop_ends_a_running_job_and_a_second_stop_is_a_no_op(ray_head: Any, marker: str) -> None:
    hook = RayDashboardHook(None, dashboard_url=ray_head.dashboard_url)
    sid = f"stop-me-{uuid.uuid4().hex[:8]}"
    hook.submit_job(entrypoint=_sleeper(marker), submission_id=sid)
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
def test_a_job_stopped_in_one_try_runs_again_under_its_id_in_the_next(ray_head: Any, round_: int, marker: str) -> None:
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

    submission(1, _sleeper(marker)).submit_or_adopt(hook, {})
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
