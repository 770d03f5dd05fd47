"""
RayService deploy and zero-downtime upgrades with the provider's operators against the real KubeRay
operator: create -> serving -> Serve-config upgrade (in place) -> serving the new version ->
cluster-spec upgrade under NewCluster (blue/green) -> serving -> delete, while a background client
sends requests through the serve service and counts the failed ones.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from k8s_support import raycluster_spec, serve_config, wait_for

from airflow_provider_kuberay.operators import KubeRayDeleteServiceOperator, KubeRayDeployServiceOperator
from tests.support.airflow_context import FakeTaskInstance, context_for

pytestmark = pytest.mark.k8s


@dataclass
class Client:
    """Sends GETs through the API server's proxy to the serve service; counts answers and failures."""

    api: Any
    namespace: str
    service: str
    answers: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    phase: str = "idle"
    per_phase: Counter[str] = field(default_factory=Counter)
    failed_per_phase: Counter[str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def request(self) -> str:
        from kubernetes import client

        resp = client.CoreV1Api(self.api).connect_get_namespaced_service_proxy_with_path(
            f"{self.service}:serve", self.namespace, "", _preload_content=False, _request_timeout=10
        )
        body = str(resp.data.decode())
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {body[:200]}")
        return body

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.per_phase[self.phase] += 1
            try:
                self.answers[self.request()] += 1
            except Exception as err:  # every failure counts, whatever its kind
                self.failures.append(f"{self.phase}: {err}"[:300])
                self.failed_per_phase[self.phase] += 1
            time.sleep(0.1)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)


def _head_process(k8s_cluster: Any, namespace: str, cluster: str) -> int | None:
    """The host PID of a real head pod's Ray container on the harness (None elsewhere, or for a stand-in)."""
    if not k8s_cluster.harness:
        return None
    from kubernetes import client

    from harness.pods import find_container_pid

    (head,) = (
        client.CoreV1Api(k8s_cluster.api)
        .list_namespaced_pod(namespace, label_selector=f"ray.io/cluster={cluster},ray.io/node-type=head")
        .items
    )
    pid = find_container_pid(head.metadata.uid, head.spec.containers[0].name)
    assert pid is not None, f"the head pod {head.metadata.name} has no process"
    return pid


def _wait_answer(client: Client, expected: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if client.request() == expected:
                return
        except Exception:
            pass
        assert time.monotonic() < deadline, f"the serve service never answered {expected!r}"
        time.sleep(0.3)


def test_deploy_upgrade_twice_without_dropped_requests(
    k8s_cluster: Any, k8s_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not k8s_cluster.harness:
        pytest.skip("deploys the harness's own Serve app (harness_echo)")
    from devtools.local_ray import has_serve

    if not has_serve(k8s_cluster.ray_bin):
        pytest.skip("RayService NOT RUN: Ray Serve is not installed (add ray[serve] to the venv)")
    extra = {"kube_config_path": k8s_cluster.kubeconfig, "namespace": k8s_namespace, "dashboard_access": "proxy"}
    monkeypatch.setenv("AIRFLOW_CONN_KUBERAY_DEFAULT", json.dumps({"conn_type": "kuberay", "extra": extra}))
    name = f"svc-{uuid.uuid4().hex[:6]}"
    cluster_v1 = raycluster_spec(0)
    body = {
        "metadata": {"name": name},
        "spec": {
            "serveConfigV2": json.dumps(serve_config("v1")),
            "rayClusterConfig": cluster_v1,
            "upgradeStrategy": {"type": "NewCluster"},
            "rayClusterDeletionDelaySeconds": 5,
        },
    }
    ti = FakeTaskInstance(dag_id="k8s_tier", task_id="deploy", run_id="r1")

    def deploy(**kwargs: Any) -> tuple[dict[str, Any], float]:
        op = KubeRayDeployServiceOperator(
            task_id="deploy", service=body, deferrable=False, resync_interval=1.0, **kwargs
        )
        started = time.monotonic()
        result = op.execute(context_for(ti))
        return result, time.monotonic() - started

    timings: dict[str, float] = {}
    created, timings["create"] = deploy()
    assert created["change"] == "created"
    assert created["applications"] == {"echo": "RUNNING"}
    client = Client(k8s_cluster.api, k8s_namespace, f"{name}-serve-svc")
    _wait_answer(client, "v1 from the harness")
    client.start()
    try:
        time.sleep(2)
        client.phase = "serve-config upgrade"
        upgraded, timings["serve_config_upgrade"] = deploy(serve_config=serve_config("v2"))
        assert upgraded["change"] == "serve_config"
        assert upgraded["active_cluster"] == created["active_cluster"]  # in place, same cluster
        # Done means served: the very next request gets the new version.
        assert client.request() == "v2 from the harness"
        time.sleep(2)

        old_head = _head_process(k8s_cluster, k8s_namespace, created["active_cluster"])
        client.phase = "cluster upgrade (NewCluster)"
        cluster_v2 = json.loads(json.dumps(cluster_v1))
        head = cluster_v2["headGroupSpec"]["template"]["spec"]["containers"][0]
        head["env"] = [{"name": "MODEL_REVISION", "value": "2"}]
        body["spec"]["rayClusterConfig"] = cluster_v2
        promoted, timings["cluster_upgrade"] = deploy(serve_config=serve_config("v2"))
        assert promoted["change"] == "cluster"
        assert promoted["strategy"] == "NewCluster"
        assert promoted["active_cluster"] != created["active_cluster"]
        assert promoted["applications"] == {"echo": "RUNNING"}
        time.sleep(3)  # the serve service now points at the new cluster: keep sending
        client.phase = "after"
        time.sleep(2)
    finally:
        client.stop()

    report = (
        f"RayService rollout timings (s): {', '.join(f'{k}={v:.1f}' for k, v in timings.items())}; "
        f"requests per phase: {dict(client.per_phase)}; failed per phase: {dict(client.failed_per_phase)}; "
        f"failed requests during upgrades: {len(client.failures)}; answers: {dict(client.answers)}"
    )
    print(report)
    assert client.answers["v2 from the harness"] > 0
    assert not client.failures, report + "\n" + "\n".join(client.failures[:10])
    if old_head is not None:
        # A really new cluster took over: the old head's processes are gone (after KubeRay's deletion delay).
        wait_for("the old head's processes to be gone", lambda: not os.path.exists(f"/proc/{old_head}"), timeout=120)

    delete = KubeRayDeleteServiceOperator(task_id="delete", service_name=name, timeout_seconds=120)
    started = time.monotonic()
    assert delete.execute(context_for(ti)) is True
    timings["delete"] = time.monotonic() - started
    assert delete.execute(context_for(ti)) is False
    print(f"RayService delete took {timings['delete']:.1f}s")


@pytest.mark.airflow
def test_example_service_dag_runs_deferred_on_airflow(
    k8s_cluster: Any, stand_in_namespace: tuple[str, str], airflow_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    The example DAG end to end, deferred: deploy, query v1, upgrade the config, query v2, delete; as
    a ServiceAccount bound only to the README's Role.

    Its Ray pods are stand-ins for the harness's one local Ray head: the greeter app is shipped by
    uploading a package to a helper cluster first, which only works if both clusters share one Ray.
    """
    from datetime import datetime, timezone
    from pathlib import Path

    from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
    from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
    from airflow_provider_kuberay.operators import KubeRayCreateClusterOperator, KubeRayDeleteClusterOperator
    from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup
    from tests.support.airflow_runs import load_dag, task_states, xcom

    if not k8s_cluster.harness:
        pytest.skip("ships the greeter app through the harness's shared Ray head")
    from devtools.local_ray import has_serve

    if not has_serve(k8s_cluster.ray_bin):
        pytest.skip("RayService NOT RUN: Ray Serve is not installed (add ray[serve] to the venv)")
    k8s_namespace, readme_role_kubeconfig = stand_in_namespace
    extra = {"kube_config_path": readme_role_kubeconfig, "namespace": k8s_namespace, "dashboard_access": "proxy"}
    monkeypatch.setenv("AIRFLOW_CONN_KUBERAY_DEFAULT", json.dumps({"conn_type": "kuberay", "extra": extra}))
    root = Path(__file__).resolve().parents[2]
    # Ship serve_apps/ as a working_dir package: a helper cluster's dashboard is the harness's Ray head.
    ti = FakeTaskInstance(dag_id="k8s_tier", task_id="helper", run_id=f"run-{uuid.uuid4().hex[:6]}")
    helper = KubeRayCreateClusterOperator(
        task_id="helper",
        cluster=ClusterSpec(image="rayproject/ray:2.52.0", ray_version="2.52.0", head=HeadGroup()),
        deferrable=False,
        resync_interval=1.0,
    ).execute(context_for(ti))
    try:
        endpoint = KubeRayHook("kuberay_default").dashboard_endpoint(helper["cluster_name"], k8s_namespace)
        runtime_env = RayDashboardHook(None, endpoint=endpoint).upload_local_packages(
            {"working_dir": str(root / "example_dags" / "serve_apps")}
        )
    finally:
        KubeRayDeleteClusterOperator(task_id="helper_delete", cluster_name=helper["cluster_name"]).execute(
            context_for(ti)
        )
    monkeypatch.setenv("KUBERAY_EXAMPLE_GREETER_WORKING_DIR", runtime_env["working_dir"])
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    dag = load_dag(root / "example_dags" / "example_kuberay_service.py", "example_kuberay_service")
    started = time.monotonic()
    dag_run = dag.test(logical_date=datetime.now(timezone.utc))
    states = task_states(dag_run)
    assert set(states.values()) == {"success"}, states
    assert xcom(dag_run, "query_v1", "return_value") == {"message": "Hello, Ada!", "model_version": 1}
    assert xcom(dag_run, "query_v2", "return_value") == {"message": "Bonjour, Ada!", "model_version": 2}
    print(f"example_kuberay_service ran in {time.monotonic() - started:.1f}s")
