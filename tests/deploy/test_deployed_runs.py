"""The example DAG and the tier's own DAG on a real Airflow deployment, driven over REST."""

from __future__ import annotations

import pytest

from tests.deploy.deployment import AirflowDeployment
from tests.deploy.runs import EXAMPLE_DAG, EXAMPLE_TASK, FinishedRun

pytestmark = [pytest.mark.deploy, pytest.mark.ray]


def test_example_dag_succeeds_with_the_job_output_in_the_task_log(
    deployment: AirflowDeployment, example_run: FinishedRun, ray_head: object
) -> None:
    rest = deployment.rest
    assert example_run.state == "success", example_run.task_states
    assert example_run.task_states == {EXAMPLE_TASK: "success", "report": "success"}
    submission_id = rest.xcom(EXAMPLE_DAG, example_run.run_id, EXAMPLE_TASK, "return_value")
    assert submission_id.startswith(f"airflow-{EXAMPLE_DAG}.{EXAMPLE_TASK}-")
    assert rest.xcom(EXAMPLE_DAG, example_run.run_id, EXAMPLE_TASK, "job_status") == "SUCCEEDED"
    log = rest.task_log(EXAMPLE_DAG, example_run.run_id, EXAMPLE_TASK)
    print(log)
    assert "total letters: " in log
    assert f"run: {example_run.run_id}" in log


def test_every_server_of_the_deployment_listens_on_loopback_only(deployment: AirflowDeployment) -> None:
    listeners = deployment.listeners()
    assert {"postgres", "airflow api_ser"} <= set(listeners.values()), listeners
    exposed = {address: name for address, name in listeners.items() if not _on_loopback(address)}
    assert not exposed, f"servers listening off loopback: {exposed}"


def _on_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]").removeprefix("::ffff:")
    return host.startswith("127.") or host == "::1"
