"""The converted astro-provider-ray TaskFlow DAG of docs/migration_dags/ on a real Airflow and a real local Ray head."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.support.airflow_runs import load_dag, task_states, xcom

pytestmark = [pytest.mark.airflow, pytest.mark.ray]


@pytest.mark.parametrize("deferrable", [False, True], ids=["in-worker", "deferrable"])
def test_migrated_taskflow_dag_returns_its_mean_as_xcom(
    airflow_db: None, ray_head: Any, monkeypatch: pytest.MonkeyPatch, deferrable: bool
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_RAY_CONN", json.dumps({"conn_type": "ray_dashboard", "host": ray_head.dashboard_url})
    )
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", str(deferrable))
    dag = load_dag(ROOT / "docs" / "migration_dags" / "ray_taskflow_existing_cluster.py", "migrated_ray_taskflow")
    dag_run = dag.test(logical_date=datetime.now(timezone.utc))
    assert task_states(dag_run) == {"generate_data": "success", "mean_of_squares": "success"}
    assert xcom(dag_run, "mean_of_squares", "return_value") == pytest.approx(14 / 3)


def test_migrated_setup_teardown_dag_parses(airflow_db: None) -> None:
    dag = load_dag(ROOT / "docs" / "migration_dags" / "ray_setup_teardown.py", "migrated_setup_teardown")
    assert dag.get_task("setup_cluster").is_setup
    assert dag.get_task("delete_cluster").is_teardown
