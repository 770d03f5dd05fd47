"""
The converted astro-provider-ray setup/teardown DAG of docs/migration_dags/ on the real control plane:
its RayCluster (from the YAML next to it) becomes ready, the script runs on it through the Jobs API,
and the teardown deletes the cluster.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from k8s_support import GROUP, VERSION, kuberay_connection

from tests.conftest import ROOT
from tests.support.airflow_runs import load_dag, task_states, xcom

pytestmark = [pytest.mark.k8s, pytest.mark.airflow]


def _clusters(custom: Any, namespace: str) -> list[str]:
    listing = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "rayclusters")
    return [item["metadata"]["name"] for item in listing["items"]]


@pytest.mark.parametrize("deferrable", [False, True], ids=["in-worker", "deferrable"])
def test_migrated_setup_teardown_dag_runs_and_deletes_its_cluster(
    k8s_cluster: Any, k8s_namespace: str, custom: Any, airflow_db: None, deferrable: bool
) -> None:
    mp = pytest.MonkeyPatch()
    mp.setenv("AIRFLOW_CONN_KUBERAY_DEFAULT", kuberay_connection(k8s_cluster.kubeconfig, k8s_namespace))
    mp.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", str(deferrable))
    try:
        dag = load_dag(ROOT / "docs" / "migration_dags" / "ray_setup_teardown.py", "migrated_setup_teardown")
        dag_run = dag.test(logical_date=datetime.now(timezone.utc))
    finally:
        mp.undo()
    states = task_states(dag_run)
    assert states == {"setup_cluster": "success", "submit_ray_job": "success", "delete_cluster": "success"}, states
    assert xcom(dag_run, "setup_cluster", "cluster_name") == "migrated-cluster"
    assert xcom(dag_run, "submit_ray_job", "job_status") == "SUCCEEDED"
    assert "migrated-cluster" not in _clusters(custom, k8s_namespace)
