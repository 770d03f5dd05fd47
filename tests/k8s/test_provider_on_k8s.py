"""
The provider's public operators against a real API server with the real KubeRay operator (the
harness, or any cluster in KUBECONFIG): clusters, RayJobs, retries, on_kill, the Jobs API through
the API server's proxy, least-privilege RBAC, and the KubeRay samples as server-side dry runs.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from k8s_support import kuberay_connection, provider_cluster, task_instance

from airflow_provider_kuberay.exceptions import RayJobFailedError
from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.operators import (
    KubeRayRunJobOperator,
    KubeRaySubmitJobOperator,
)
from tests.conftest import ROOT
from tests.support.airflow_context import context_for

pytestmark = pytest.mark.k8s

CLUSTER = provider_cluster()
SAMPLES = Path(__import__("os").environ.get("KUBERAY_SHARED_DIR", ROOT.parent / "shared")) / "kuberay" / "samples"


def test_cluster_ready_then_deleted_with_its_pods(kuberay_conn: str, shared_cluster: str) -> None:
    hook = KubeRayHook()
    assert hook.get_object("RayCluster", shared_cluster, kuberay_conn)["status"]["state"] == "ready"
    assert hook.list_pods(kuberay_conn, label_selector=f"ray.io/cluster={shared_cluster}")


def test_rayjob_on_its_own_cluster_succeeds_with_output_in_the_task_log(
    kuberay_conn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    op = KubeRayRunJobOperator(
        task_id="own_cluster",
        entrypoint="python -c \"import ray; ray.init(); print('answer', ray.get(ray.remote(lambda: 42).remote()))\"",
        cluster=CLUSTER,
        deferrable=False,
        resync_interval=2,
    )
    summary = op.execute(context_for(task_instance("own_cluster")))
    assert summary["job_status"] == "SUCCEEDED"
    assert summary["job_deployment_status"] == "Complete"
    assert "[ray] answer 42" in capsys.readouterr().out


def test_failing_rayjob_fails_the_task_with_kuberays_reason(kuberay_conn: str, shared_cluster: str) -> None:
    op = KubeRayRunJobOperator(
        task_id="fails",
        entrypoint="python -c \"print('going down'); raise SystemExit(5)\"",
        cluster_name=shared_cluster,
        deferrable=False,
        resync_interval=2,
    )
    with pytest.raises(RayJobFailedError) as info:
        op.execute(context_for(task_instance("fails")))
    assert "(AppFailed)" in str(info.value)
    assert "going down" in str(info.value)


def test_a_restarted_task_adopts_its_rayjob(kuberay_conn: str, shared_cluster: str) -> None:
    run_id = f"run-{uuid.uuid4().hex[:6]}"

    def attempt() -> str:
        op = KubeRayRunJobOperator(
            task_id="adopt", entrypoint="python -c 'print(1)'", cluster_name=shared_cluster, wait_for_completion=False
        )
        return str(op.execute(context_for(task_instance("adopt", run_id=run_id))))

    name = attempt()
    assert attempt() == name
    jobs = KubeRayHook().list_objects("RayJob", kuberay_conn, label_selector="airflow.apache.org/task-id=adopt")
    assert [job["metadata"]["name"] for job in jobs] == [name]


def test_on_kill_deletes_the_rayjob_but_never_the_shared_cluster(kuberay_conn: str, shared_cluster: str) -> None:
    op = KubeRayRunJobOperator(
        task_id="killed",
        entrypoint="python -c 'import time; time.sleep(600)'",
        cluster_name=shared_cluster,
        wait_for_completion=False,
    )
    name = op.execute(context_for(task_instance("killed")))
    op.on_kill()
    hook = KubeRayHook()
    hook.wait_until_deleted("RayJob", str(name), kuberay_conn, timeout=120)
    assert hook.find_object("RayCluster", shared_cluster, kuberay_conn) is not None


def test_submit_by_cluster_name_through_the_api_server_proxy(
    kuberay_conn: str, shared_cluster: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ti = task_instance("submit")
    op = KubeRaySubmitJobOperator(
        task_id="submit",
        entrypoint="python -c \"print('through the proxy')\"",
        cluster_name=shared_cluster,
        deferrable=False,
        poll_interval=1,
    )
    op.execute(context_for(ti))
    assert ti.xcoms["job_status"] == "SUCCEEDED"
    assert "/proxy" in ti.xcoms["dashboard_url"]
    assert "[ray] through the proxy" in capsys.readouterr().out


def test_the_readmes_least_privilege_role_is_enough(
    kuberay_conn: str, readme_role_kubeconfig: str, monkeypatch: pytest.MonkeyPatch, shared_cluster: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KUBERAY_DEFAULT", kuberay_connection(readme_role_kubeconfig, kuberay_conn))
    summary = KubeRayRunJobOperator(
        task_id="rbac",
        entrypoint="python -c \"print('least privilege')\"",
        cluster_name=shared_cluster,
        deferrable=False,
        resync_interval=2,
    ).execute(context_for(task_instance("rbac")))
    assert summary["job_status"] == "SUCCEEDED"
    ti = task_instance("rbac_submit")
    KubeRaySubmitJobOperator(
        task_id="rbac_submit",
        entrypoint="python -c 'print(2)'",
        cluster_name=shared_cluster,
        deferrable=False,
        poll_interval=1,
    ).execute(context_for(ti))
    assert ti.xcoms["job_status"] == "SUCCEEDED"


def _samples() -> list[Path]:
    return sorted(SAMPLES.glob("*.yaml"))


def test_every_kuberay_sample_passes_a_server_side_dry_run(kuberay_conn: str) -> None:
    hook = KubeRayHook()
    tried = 0
    for path in _samples():
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") not in ("RayCluster", "RayJob", "RayService"):
                continue
            doc.setdefault("metadata", {})["namespace"] = kuberay_conn
            created = hook.create_object(doc["kind"], doc, kuberay_conn, dry_run=True)
            wanted = doc["metadata"].get("name") or doc["metadata"]["generateName"]
            assert created["metadata"]["name"].startswith(wanted), path.name
            tried += 1
    assert tried >= 80
    assert hook.list_objects("RayService", kuberay_conn) == []  # dry runs stored nothing


def test_task_kuberay_returns_the_functions_value(kuberay_conn: str, shared_cluster: str) -> None:
    from airflow.sdk import DAG, task

    with DAG(dag_id="decorated_on_k8s") as dag:

        @task.kuberay(cluster_name=shared_cluster, deferrable=False, resync_interval=2)
        def scaled_sum(values: list[int], factor: int) -> dict[str, int]:
            import ray

            ray.init()
            total = sum(ray.get([ray.remote(lambda v: v * factor).remote(v) for v in values]))
            return {"total": total, "count": len(values)}

        scaled_sum([1, 2, 3], factor=10)
    ti = task_instance("scaled_sum")
    result = dag.get_task("scaled_sum").execute(context_for(ti))
    assert result == {"total": 60, "count": 3}


@pytest.mark.airflow
@pytest.mark.parametrize("dag_id", ["example_kuberay_run_job", "example_kuberay_cluster"])
def test_kubernetes_example_dags_run_deferred_on_airflow(
    kuberay_conn: str, readme_role_kubeconfig: str, airflow_db: None, dag_id: str
) -> None:
    """Each example DAG end to end, deferred, as a ServiceAccount bound only to the README's Role."""
    from datetime import datetime, timezone

    from tests.support.airflow_runs import load_dag, task_states, xcom

    mp = pytest.MonkeyPatch()
    mp.setenv("AIRFLOW_CONN_KUBERAY_DEFAULT", kuberay_connection(readme_role_kubeconfig, kuberay_conn))
    mp.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    try:
        dag = load_dag(ROOT / "example_dags" / f"{dag_id}.py", dag_id)
        assert all(getattr(t, "deferrable", True) for t in dag.tasks)
        dag_run = dag.test(logical_date=datetime.now(timezone.utc))
    finally:
        mp.undo()
    states = task_states(dag_run)
    assert set(states.values()) == {"success"}, states
    if dag_id == "example_kuberay_run_job":
        assert xcom(dag_run, "count_words", "job_status") == "SUCCEEDED"
    else:
        assert xcom(dag_run, "create_cluster", "cluster_name")
