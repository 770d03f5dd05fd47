"""
Components of a real deployment die or restart while a Ray job runs under a deferred task: the
run still ends as it should. Every check is made over REST, as a user or a CI system would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.deployment import AirflowDeployment
from tests.deploy.rest import wait_until
from tests.deploy.runs import DEFER_TIMEOUT, LINES_DAG, LINES_TASK, RUN_TIMEOUT, job_lines, start_deferred_run
from tests.deploy.takeover import Takeover, kill_the_triggers_triggerer

pytestmark = [pytest.mark.deploy, pytest.mark.ray]

RESTART_LINES = 20


def _assert_every_line_in_log(deployment: AirflowDeployment, run_id: str, lines: int) -> str:
    log = deployment.rest.task_log(LINES_DAG, run_id, LINES_TASK)
    missing = [line for line in job_lines(lines) if line not in log]
    assert not missing, f"job lines missing from the task log: {missing}\n{log}"
    assert "deploy-job done" in log
    return log


def test_scheduler_killed_mid_run_and_restarted_the_run_completes(
    deployment: AirflowDeployment, tmp_path: Path
) -> None:
    rest = deployment.rest
    release = tmp_path / "release"
    run_id = start_deferred_run(deployment, lines=RESTART_LINES, interval=0.5, release_file=release)
    deployment.kill_component("scheduler")
    try:
        assert not deployment.components["scheduler"].pids(), "the scheduler survived SIGKILL"
        # While no scheduler runs, the job ends and the trigger fires: the task waits to be scheduled.
        release.touch()
        rest.wait_for_task_state(LINES_DAG, run_id, LINES_TASK, "scheduled", DEFER_TIMEOUT)
        assert rest.dag_run(LINES_DAG, run_id)["state"] == "running"
    finally:
        deployment.start_component("scheduler")
    finished = rest.wait_for_run(LINES_DAG, run_id, RUN_TIMEOUT)
    assert finished["state"] == "success", rest.task_states(LINES_DAG, run_id)
    assert rest.task_states(LINES_DAG, run_id) == {LINES_TASK: "success", "after": "success"}
    _assert_every_line_in_log(deployment, run_id, lines=RESTART_LINES)


def _runs(deployment: AirflowDeployment) -> dict[str, str]:
    found = deployment.rest.get(f"/dags/{LINES_DAG}/dagRuns", params={"limit": 100})["dag_runs"]
    return {run["dag_run_id"]: run["state"] for run in found}


def test_api_server_restart_loses_nothing(deployment: AirflowDeployment, tmp_path: Path) -> None:
    rest = deployment.rest
    before_runs = _runs(deployment)
    release = tmp_path / "release"
    run_id = start_deferred_run(deployment, lines=RESTART_LINES, interval=0.5, release_file=release)
    token = rest.token
    deployment.stop_component("api-server")
    deployment.start_component("api-server")
    # The token issued before the restart still works: nothing to log in again for.
    wait_until(rest.health, deployment.startup_timeout, "the restarted API server to answer")
    assert rest.token == token
    # The job ends once the API server is back: a worker needs it to resume the task.
    release.touch()
    finished = rest.wait_for_run(LINES_DAG, run_id, RUN_TIMEOUT)
    assert finished["state"] == "success", rest.task_states(LINES_DAG, run_id)
    _assert_every_line_in_log(deployment, run_id, lines=RESTART_LINES)
    after_runs = _runs(deployment)
    for run_id_before, state_before in before_runs.items():
        assert after_runs[run_id_before] == state_before, f"{run_id_before} was {state_before}, now {after_runs}"
    connection = rest.get("/connections/ray_dashboard_default")
    assert connection["conn_type"] == "ray_dashboard"


TAKEOVER_LINES = 40


@pytest.fixture(scope="module")
def triggerer_takeover(deployment: AirflowDeployment, tmp_path_factory: pytest.TempPathFactory) -> Takeover:
    """SIGKILL the triggerer that runs the job's trigger mid-job; wait for the run."""
    release = tmp_path_factory.mktemp("jobs-api-takeover") / "release"
    return kill_the_triggers_triggerer(deployment, LINES_DAG, TAKEOVER_LINES, release)


def test_killed_triggerers_jobs_api_trigger_is_taken_over_and_the_task_ends_correctly(
    deployment: AirflowDeployment, triggerer_takeover: Takeover
) -> None:
    triggerer_takeover.assert_taken_over_and_ended(deployment, {LINES_TASK: "success", "after": "success"})


def test_killed_triggerers_job_lines_appear_once_in_the_task_log(triggerer_takeover: Takeover) -> None:
    triggerer_takeover.assert_every_line_once()
