"""
``KubeRayDeleteExpiredClustersOperator`` on a real Airflow (``dag.test``): the DAG run states come from
Airflow's execution API through the Task SDK, the Kubernetes API is faked at the HTTP boundary.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from airflow_provider_kuberay.tasks.cluster_lifecycle import DAG_ID_ANNOTATION, EXPIRES_AT_ANNOTATION, RUN_ID_ANNOTATION
from tests.conftest import DAGS_FOLDER
from tests.support.airflow_runs import load_dag, task_states, xcom
from tests.support.fake_kube_api import FakeKubeApi, running_fake_kube_api

pytestmark = pytest.mark.airflow

NS = "ml"
PAST = "2020-01-01T00:00:00Z"
DAG_ID = "expire_clusters"
# Each run first plants an expired cluster of its own run (so the run is "running" when the expiry
# task looks), then deletes the expired clusters of ended runs.
EXPIRY_DAG = f'''
import hashlib
from datetime import datetime
from airflow.sdk import DAG, task
from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.operators import KubeRayDeleteExpiredClustersOperator

with DAG(dag_id="{DAG_ID}", schedule=None, start_date=datetime(2025, 1, 1)):
    @task
    def plant(run_id=None):
        name = "run-" + hashlib.sha256(run_id.encode()).hexdigest()[:8]
        metadata = {{
            "name": name,
            "labels": {{"app.kubernetes.io/managed-by": "airflow-provider-kuberay"}},
            "annotations": {{"{DAG_ID_ANNOTATION}": "{DAG_ID}", "{RUN_ID_ANNOTATION}": run_id,
                            "{EXPIRES_AT_ANNOTATION}": "{PAST}"}},
        }}
        KubeRayHook().create_object("RayCluster", {{"metadata": metadata, "spec": {{}}}})
        return name

    plant() >> KubeRayDeleteExpiredClustersOperator(task_id="expire")
'''


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeApi]:
    for api in running_fake_kube_api():
        monkeypatch.setenv("AIRFLOW_CONN_KUBERAY_DEFAULT", api.connection_json(namespace=NS))
        yield api


def _expired(name: str, run_id: str) -> dict[str, object]:
    annotations = {DAG_ID_ANNOTATION: DAG_ID, RUN_ID_ANNOTATION: run_id, EXPIRES_AT_ANNOTATION: PAST}
    labels = {"app.kubernetes.io/managed-by": "airflow-provider-kuberay"}
    return {"metadata": {"name": name, "namespace": NS, "labels": labels, "annotations": annotations}, "spec": {}}


def test_expiry_reads_run_states_through_the_task_sdk(airflow_db: None, kube: FakeKubeApi) -> None:
    kube.put_object("RayCluster", _expired("deleted-run", "manual__no-such-run"))
    path = DAGS_FOLDER / "expire_clusters.py"
    path.write_text(EXPIRY_DAG)
    try:
        first = load_dag(path, DAG_ID).test(logical_date=datetime.now(timezone.utc))
        second = load_dag(path, DAG_ID).test(logical_date=datetime.now(timezone.utc))
    finally:
        path.unlink()
    assert task_states(first) == task_states(second) == {"plant": "success", "expire": "success"}
    first_cluster = xcom(first, "plant", "return_value")
    second_cluster = xcom(second, "plant", "return_value")
    # Run 1: its own cluster's run is running (kept); a run that does not exist has ended.
    assert xcom(first, "expire", "return_value") == ["deleted-run"]
    # Run 2: run 1 has succeeded, so its cluster goes; run 2's own stays.
    assert xcom(second, "expire", "return_value") == [first_cluster]
    assert kube.get("RayCluster", NS, second_cluster) is not None
    assert kube.get("RayCluster", NS, first_cluster) is None
