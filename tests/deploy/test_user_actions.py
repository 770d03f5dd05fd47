"""
What users do to a deferred task in a real deployment, over REST: mark it failed, or clear it. The
trigger (Airflow 3.3+ ``on_kill``) stops the Ray job its task submitted; a cleared task runs a new
job, under the same submission id by default and under a new one with ``reattach_on_clear=False``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.deploy.deployment import AirflowDeployment
from tests.deploy.rest import wait_until
from tests.deploy.runs import (
    DEFER_TIMEOUT,
    LINES_DAG,
    LINES_TASK,
    RERUN_DAG,
    RUN_TIMEOUT,
    job_lines,
    start_deferred_run,
)

pytestmark = [pytest.mark.deploy, pytest.mark.ray]

# The bound: a killed task's job is stopped within this many seconds.
STOP_WITHIN = 10.0
# Lines the job prints before it waits for its release file: the job outlives every action below.
LINES = 6


def _jobs_of_run(dashboard_url: str, run_id: str) -> list[dict[str, Any]]:
    """Every Ray job (each submission) a task of this DAG run submitted."""
    answer = requests.get(f"{dashboard_url}/api/jobs/", timeout=30)
    answer.raise_for_status()
    return [job for job in answer.json() if (job.get("metadata") or {}).get("airflow_run_id") == run_id]


def _submission(job: dict[str, Any]) -> tuple[str, int]:
    """One submission: its id and start time (an id submitted again is another job; a job without a
    Ray driver of its own has no ``job_id``)."""
    return str(job["submission_id"]), int(job["start_time"])


def _running_job(dashboard_url: str, run_id: str, try_number: int) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        for job in _jobs_of_run(dashboard_url, run_id):
            if job["status"] == "RUNNING" and job["metadata"].get("airflow_try_number") == str(try_number):
                return job
        return None

    return wait_until(found, DEFER_TIMEOUT, f"a running Ray job of try {try_number} of {run_id}")


def _states(dashboard_url: str, run_id: str) -> dict[tuple[str, int], str]:
    return {_submission(job): job["status"] for job in _jobs_of_run(dashboard_url, run_id)}


def _seconds_until_not_running(dashboard_url: str, run_id: str, job: dict[str, Any]) -> float:
    """How long the Ray job still ran (polled every 0.2 s, for at most 2 * STOP_WITHIN); gone counts as stopped."""
    start = time.monotonic()
    while time.monotonic() - start < 2 * STOP_WITHIN:
        if _states(dashboard_url, run_id).get(_submission(job)) not in ("RUNNING", "PENDING"):
            return time.monotonic() - start
        time.sleep(0.2)
    return float("inf")


def _assert_the_trigger_stopped_it(
    deployment: AirflowDeployment, dag_id: str, run_id: str, job: dict[str, Any]
) -> None:
    """The first try's trigger stopped the job (its on_kill), not the next try nor anything else."""
    said = f"Task killed: stopped Ray job {job['submission_id']}, which this task started"
    wait_until(
        lambda: said in deployment.rest.task_log(dag_id, run_id, LINES_TASK, try_number=1) or None,
        30,
        f"the first try's log saying {said!r}",
    )


@pytest.fixture
def release(tmp_path: Path) -> Iterator[Path]:
    """The file that lets the test's jobs end: created at the end whatever happened, so none lingers."""
    path = tmp_path / "release"
    yield path
    path.touch()


def test_marking_a_deferred_task_failed_stops_its_ray_job(
    deployment: AirflowDeployment, ray_head: Any, release: Path
) -> None:
    rest = deployment.rest
    run_id = start_deferred_run(deployment, lines=LINES, interval=0.5, release_file=release)
    job = _running_job(ray_head.dashboard_url, run_id, try_number=1)
    rest.mark_task(LINES_DAG, run_id, LINES_TASK, "failed")
    took = _seconds_until_not_running(ray_head.dashboard_url, run_id, job)
    print(f"the Ray job stopped {took:.1f}s after the task was marked failed")
    assert took <= STOP_WITHIN, f"the Ray job still ran {took:.1f}s after the task was marked failed"
    _assert_the_trigger_stopped_it(deployment, LINES_DAG, run_id, job)
    # Stopped, not deleted; and nothing submits a job again: the task stays failed.
    assert _states(ray_head.dashboard_url, run_id) == {_submission(job): "STOPPED"}
    assert rest.task_instance(LINES_DAG, run_id, LINES_TASK)["state"] == "failed"


def _clear_and_follow_the_new_try(
    deployment: AirflowDeployment, dashboard_url: str, dag_id: str, release: Path
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Clear the deferred task mid-job; the first try's job and the second try's, once the run succeeded."""
    rest = deployment.rest
    run_id = start_deferred_run(deployment, lines=LINES, interval=0.5, release_file=release, dag_id=dag_id)
    first = _running_job(dashboard_url, run_id, try_number=1)
    rest.clear_task(dag_id, run_id, LINES_TASK)
    took = _seconds_until_not_running(dashboard_url, run_id, first)
    print(f"the Ray job stopped {took:.1f}s after the task was cleared")
    assert took <= STOP_WITHIN, f"the Ray job still ran {took:.1f}s after the task was cleared"
    _assert_the_trigger_stopped_it(deployment, dag_id, run_id, first)
    second = _running_job(dashboard_url, run_id, try_number=2)
    assert _submission(second) != _submission(first), "the new try adopted the killed job instead of a new one"
    release.touch()
    finished = rest.wait_for_run(dag_id, run_id, RUN_TIMEOUT)
    assert finished["state"] == "success", rest.task_states(dag_id, run_id)
    assert rest.task_instance(dag_id, run_id, LINES_TASK)["try_number"] == 2
    log = rest.task_log(dag_id, run_id, LINES_TASK, try_number=2)
    missing = [line for line in job_lines(LINES) if line not in log]
    assert not missing, f"lines of the new job missing from try 2's log: {missing}\n{log}"
    return first, second, rest.xcom(dag_id, run_id, LINES_TASK, "return_value")


def test_clearing_a_deferred_task_stops_its_job_and_the_new_try_resubmits_it_under_the_same_id(
    deployment: AirflowDeployment, ray_head: Any, release: Path
) -> None:
    first, second, returned = _clear_and_follow_the_new_try(deployment, ray_head.dashboard_url, LINES_DAG, release)
    # Resumable by default: one submission id per task instance; the stopped job was replaced by the new try.
    assert second["submission_id"] == first["submission_id"] == returned
    states = _states(ray_head.dashboard_url, second["metadata"]["airflow_run_id"])
    assert states == {_submission(second): "SUCCEEDED"}, states


def test_clearing_with_reattach_on_clear_false_runs_a_new_job_under_a_new_submission_id(
    deployment: AirflowDeployment, ray_head: Any, release: Path
) -> None:
    first, second, returned = _clear_and_follow_the_new_try(deployment, ray_head.dashboard_url, RERUN_DAG, release)
    assert second["submission_id"] != first["submission_id"]
    assert second["submission_id"] == returned
    assert second["submission_id"].startswith(f"airflow-{RERUN_DAG}.{LINES_TASK}.try2-"), second
    # The first try's job is kept, stopped, under its own id (nothing deleted it).
    assert first["submission_id"].startswith(f"airflow-{RERUN_DAG}.{LINES_TASK}-"), first
    states = _states(ray_head.dashboard_url, second["metadata"]["airflow_run_id"])
    assert states == {_submission(first): "STOPPED", _submission(second): "SUCCEEDED"}, states
