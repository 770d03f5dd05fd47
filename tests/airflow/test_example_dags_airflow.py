"""The example DAG end to end on a real Airflow (SQLite metadata DB) against the real local Ray head."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from tests.conftest import DAGS_FOLDER, ROOT
from tests.support.airflow_runs import load_dag as _load_dag
from tests.support.airflow_runs import task_states as _states
from tests.support.airflow_runs import xcom as _xcom

pytestmark = [pytest.mark.airflow, pytest.mark.ray]


@pytest.fixture
def ray_connection(ray_head: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    conn = json.dumps({"conn_type": "ray_dashboard", "host": ray_head.dashboard_url})
    monkeypatch.setenv("AIRFLOW_CONN_RAY_DASHBOARD_DEFAULT", conn)
    return ray_head.dashboard_url


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "in-worker"])
def test_example_dag_runs_end_to_end(
    airflow_db: None, ray_connection: str, deferrable: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", str(deferrable))
    dag = _load_dag(ROOT / "example_dags" / "example_ray_submit_job.py", "example_ray_submit_job")
    assert dag.get_task("fan_out_and_gather").deferrable is deferrable
    dag_run = dag.test(logical_date=datetime.now(timezone.utc))
    assert _states(dag_run) == {"fan_out_and_gather": "success", "report": "success"}
    assert str(dag_run.state) == "success"
    submission_id = _xcom(dag_run, "fan_out_and_gather", "return_value")
    assert submission_id.startswith("airflow-example_ray_submit_job.fan_out_and_gather-")
    assert _xcom(dag_run, "fan_out_and_gather", "job_status") == "SUCCEEDED"
    assert _xcom(dag_run, "fan_out_and_gather", "dashboard_url") == ray_connection
    report = _xcom(dag_run, "report", "return_value")
    assert report == {"submission_id": submission_id, "dashboard_url": ray_connection, "job_status": "SUCCEEDED"}
    link = _xcom(dag_run, "fan_out_and_gather", "_link_RayJobDashboardLink")
    assert link == f"{ray_connection}/#/jobs/{submission_id}"


FAILING_DAG = """
from datetime import datetime, timezone
from airflow.sdk import DAG
from airflow_provider_kuberay.operators import KubeRaySubmitJobOperator

with DAG(dag_id="failing_ray_job", schedule=None, start_date=datetime(2025, 1, 1)):
    KubeRaySubmitJobOperator(
        task_id="fails",
        entrypoint="python -c \\"print('last words'); raise SystemExit(7)\\"",
        poll_interval=0.5,
    )
"""


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "in-worker"])
def test_a_failing_ray_job_fails_the_task(
    airflow_db: None, ray_connection: str, deferrable: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", str(deferrable))
    path = DAGS_FOLDER / "failing_ray_job.py"
    path.write_text(FAILING_DAG)
    dag_run = _load_dag(path, "failing_ray_job").test(logical_date=datetime.now(timezone.utc))
    assert _states(dag_run) == {"fails": "failed"}
    assert _xcom(dag_run, "fails", "job_status") == "FAILED"


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "in-worker"])
def test_the_ray_task_example_returns_its_value_as_xcom(
    airflow_db: None, ray_connection: str, deferrable: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", str(deferrable))
    dag = _load_dag(ROOT / "example_dags" / "example_ray_task.py", "example_ray_task")
    assert dag.get_task("mean_on_ray").deferrable is deferrable
    dag_run = dag.test(logical_date=datetime.now(timezone.utc))
    assert _states(dag_run) == {"make_values": "success", "mean_on_ray": "success", "report": "success"}
    assert _xcom(dag_run, "mean_on_ray", "return_value") == {"mean": 50.5, "n": 100}
    assert _xcom(dag_run, "report", "return_value") == 50.5
    submission_id = _xcom(dag_run, "mean_on_ray", "submission_id")
    assert _xcom(dag_run, "mean_on_ray", "_link_RayJobDashboardLink") == f"{ray_connection}/#/jobs/{submission_id}"
