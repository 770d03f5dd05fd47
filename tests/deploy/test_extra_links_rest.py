"""The extra links as Airflow's REST API serves them (a task instance's ``links``), during and after a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_kuberay.tasks.identity import submission_id_for
from tests.deploy.deployment import AirflowDeployment
from tests.deploy.rest import wait_until
from tests.deploy.runs import EXAMPLE_DAG, EXAMPLE_TASK, LINES_DAG, LINES_TASK, RUN_TIMEOUT, FinishedRun

pytestmark = [pytest.mark.deploy, pytest.mark.ray]

DEFER_TIMEOUT = 180.0


def test_finished_tasks_ray_job_link_is_served_by_the_rest_api(
    deployment: AirflowDeployment, example_run: FinishedRun
) -> None:
    rest = deployment.rest
    assert example_run.state == "success", example_run.task_states
    submission_id = rest.xcom(EXAMPLE_DAG, example_run.run_id, EXAMPLE_TASK, "return_value")
    dashboard_url = rest.xcom(EXAMPLE_DAG, example_run.run_id, EXAMPLE_TASK, "dashboard_url")
    links = rest.extra_links(EXAMPLE_DAG, example_run.run_id, EXAMPLE_TASK)
    assert links["Ray Job"] == f"{dashboard_url}/#/jobs/{submission_id}"
    assert links["Ray Cluster"] == f"{dashboard_url}/#/cluster"


def test_running_tasks_ray_job_link_is_served_while_the_job_runs(
    deployment: AirflowDeployment, ray_head: Any, tmp_path: Path
) -> None:
    rest = deployment.rest
    release = tmp_path / "release"
    run_id = rest.trigger(LINES_DAG, {"lines": 4, "interval": 0.2, "release_file": str(release)})
    try:
        rest.wait_for_task_state(LINES_DAG, run_id, LINES_TASK, "deferred", DEFER_TIMEOUT)

        def links_once_set() -> dict[str, str | None] | None:
            found = rest.extra_links(LINES_DAG, run_id, LINES_TASK)
            return found if found.get("Ray Job") else None

        links = wait_until(links_once_set, 60.0, "the Ray Job link of the deferred task")
        # The job waits for the release file: the link was served while the task was still running.
        assert rest.task_instance(LINES_DAG, run_id, LINES_TASK)["state"] == "deferred"
        dashboard_url = ray_head.dashboard_url.rstrip("/")
        assert links["Ray Job"] == f"{dashboard_url}/#/jobs/{submission_id_for(LINES_DAG, LINES_TASK, run_id)}"
        assert links["Ray Cluster"] == f"{dashboard_url}/#/cluster"
    finally:
        release.touch()
    finished = rest.wait_for_run(LINES_DAG, run_id, RUN_TIMEOUT)
    assert finished["state"] == "success", rest.task_states(LINES_DAG, run_id)
