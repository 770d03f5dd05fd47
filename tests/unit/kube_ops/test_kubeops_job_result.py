"""KubeRayRunJobOperator(return_result=True) and @task.kuberay read the value the job emitted."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from airflow_provider_kuberay.decorators.callable_payload import INLINE_LIMIT_CHARS
from airflow_provider_kuberay.operators import KubeRayRunJobOperator
from airflow_provider_kuberay.result import NONCE_ENV, NONCE_METADATA_KEY, result_line
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, resource_name
from tests.support.airflow_context import FakeTaskInstance, context_for
from tests.support.fake_dashboard import FakeDashboard
from tests.support.fake_kube_api import FakeKubeApi

NS = "ml"
CLUSTER = ClusterSpec(image="rayproject/ray:2.52.0", ray_version="2.52.0", head=HeadGroup())
COMPLETE = {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED", "jobId": "rj-1", "rayClusterName": "rc-1"}


def _finish_with_log(kube: FakeKubeApi, name: str, log_for_nonce: Any | None) -> None:
    """
    Once the RayJob exists (however long the operator takes to create it on a loaded machine), give
    its submitter pod a log made for the job's nonce, if any, then complete it.
    """

    def run() -> None:
        for _ in range(1200):
            obj = kube.get("RayJob", NS, name)
            if obj is not None:
                if log_for_nonce is not None:
                    nonce = obj["spec"]["metadata"][NONCE_METADATA_KEY]
                    kube.add_pod(f"{name}-sub", NS, labels={"job-name": name}, log_chunks=[log_for_nonce(nonce)])
                kube.set_status("RayJob", NS, name, COMPLETE)
                return
            time.sleep(0.05)

    threading.Thread(target=run, daemon=True).start()


def test_run_job_returns_the_emitted_value_and_ignores_lookalikes(kube: FakeKubeApi) -> None:
    ti = FakeTaskInstance()
    name = resource_name(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, kind="RayJob")
    _finish_with_log(
        kube,
        name,
        lambda nonce: f"chatter\n{result_line({'rows': 3}, nonce)}\n{result_line('spoof', 'f' * 32)}\n",
    )
    op = KubeRayRunJobOperator(
        task_id="task",
        entrypoint="python job.py",
        cluster=CLUSTER,
        runtime_env={"env_vars": {"A": "1"}},
        deferrable=False,
        resync_interval=0.3,
        return_result=True,
    )
    assert op.execute(context_for(ti)) == {"rows": 3}
    assert ti.xcoms["job_id"] == "rj-1"
    spec = kube.get("RayJob", NS, name)["spec"]
    assert NONCE_ENV in spec["runtimeEnvYAML"]
    assert "A:" in spec["runtimeEnvYAML"]


def test_without_return_result_the_summary_is_returned_as_before(kube: FakeKubeApi) -> None:
    ti = FakeTaskInstance()
    name = resource_name(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, kind="RayJob")
    _finish_with_log(kube, name, None)
    op = KubeRayRunJobOperator(
        task_id="task", entrypoint="python job.py", cluster=CLUSTER, deferrable=False, resync_interval=0.3
    )
    summary = op.execute(context_for(ti))
    assert summary["job_id"] == "rj-1"
    assert summary["name"] == name
    assert "metadata" not in kube.get("RayJob", NS, name)["spec"]


def test_a_job_that_emits_nothing_fails_the_task(kube: FakeKubeApi) -> None:
    ti = FakeTaskInstance()
    name = resource_name(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, kind="RayJob")
    _finish_with_log(kube, name, lambda nonce: "no result here\n")
    op = KubeRayRunJobOperator(
        task_id="task", entrypoint="python job.py", cluster=CLUSTER, deferrable=False, resync_interval=0.3,
        return_result=True,
    )  # fmt: skip
    with pytest.raises(ValueError, match=f"RayJob {NS}/{name}: the job's log has no result line"):
        op.execute(context_for(ti))


def test_task_kuberay_refuses_arguments_too_large_for_an_entrypoint_before_any_request(kube: FakeKubeApi) -> None:
    from airflow_provider_kuberay.decorators.kuberay import KubeRayDecoratedOperator

    def size(text: str) -> int:
        return len(text)

    op = KubeRayDecoratedOperator(
        task_id="size", python_callable=size, op_args=["x" * INLINE_LIMIT_CHARS], cluster=CLUSTER, deferrable=False
    )
    with pytest.raises(ValueError, match="do not fit in a RayJob entrypoint"):
        op.execute(context_for())
    assert kube.get("RayJob", NS, resource_name("dag", "size", FakeTaskInstance().run_id, -1, kind="RayJob")) is None


def test_task_kuberay_on_an_existing_cluster_uploads_large_arguments_through_its_dashboard(
    kube: FakeKubeApi, fake_dashboard: FakeDashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_kuberay.decorators.kuberay import KubeRayDecoratedOperator

    monkeypatch.setenv(
        "AIRFLOW_CONN_KUBERAY_DEFAULT",
        kube.connection_json(namespace=NS, dashboard_access="url", dashboard_url=fake_dashboard.url),
    )

    def size(text: str) -> int:
        return len(text)

    op = KubeRayDecoratedOperator(
        task_id="size",
        python_callable=size,
        op_args=["x" * 1_000_000],
        cluster_name="shared",
        deferrable=False,
        wait_for_completion=False,
    )
    ti = FakeTaskInstance(task_id="size")
    name = op.execute(context_for(ti))
    spec = kube.get("RayJob", NS, name)["spec"]
    assert len(spec["entrypoint"]) < 2_000
    assert "gcs://_ray_pkg_" in spec["runtimeEnvYAML"]
    assert fake_dashboard.calls("PUT")  # the package went to the cluster before the RayJob was created
