"""Session fixtures for the `k8s` tier, on the session's harness (``k8s_cluster``, defined in
tests/support/k8s_harness.py: the deploy tier uses the same one).
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.support.k8s_harness import K8sCluster


@pytest.fixture(scope="session")
def k8s_namespace(k8s_cluster: K8sCluster) -> Iterator[str]:
    """A namespace of this session's own, deleted (with everything in it) at the end."""
    from kubernetes import client

    core = client.CoreV1Api(k8s_cluster.api)
    name = f"krh-test-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    try:
        yield name
        # The leak check: when the tier is done, only finished RayJobs (records) may remain.
        from k8s_support import release_finished_rayjobs_and_find_leaks

        released, leaks = release_finished_rayjobs_and_find_leaks(k8s_cluster.api, name)
        sys.stderr.write(f"\nk8s leak check: {released} finished RayJobs released, leaked: {leaks or 'nothing'}\n")
        assert not leaks, f"the k8s tier left these behind in {name}: {leaks}"
    finally:
        core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture
def custom(k8s_cluster: K8sCluster) -> Any:
    from kubernetes import client

    return client.CustomObjectsApi(k8s_cluster.api)


@pytest.fixture
def core(k8s_cluster: K8sCluster) -> Any:
    from kubernetes import client

    return client.CoreV1Api(k8s_cluster.api)


@pytest.fixture(scope="session")
def kubeconfig_for_role(
    k8s_cluster: K8sCluster, k8s_namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., str]:
    """Factory: a kubeconfig for a new ServiceAccount bound to a Role with `rules` in the test
    namespace (or `namespace`), with a TokenRequest token, to prove that a least-privilege Role is enough."""
    from kubernetes import client

    core = client.CoreV1Api(k8s_cluster.api)
    rbac = client.RbacAuthorizationV1Api(k8s_cluster.api)
    cfg = k8s_cluster.api.configuration
    out_dir = tmp_path_factory.mktemp("kubeconfigs")

    def make(name: str, rules: list[dict[str, Any]], namespace: str | None = None) -> str:
        ns = namespace or k8s_namespace
        core.create_namespaced_service_account(ns, {"metadata": {"name": name}})
        rbac.create_namespaced_role(ns, {"metadata": {"name": name}, "rules": rules})
        rbac.create_namespaced_role_binding(
            ns,
            {
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
            },
        )
        token = core.create_namespaced_service_account_token(
            name, ns, {"spec": {"expirationSeconds": 7200}}
        ).status.token
        cluster: dict[str, Any] = {"server": cfg.host}
        if cfg.ssl_ca_cert:
            cluster["certificate-authority"] = cfg.ssl_ca_cert
        elif not cfg.verify_ssl:
            cluster["insecure-skip-tls-verify"] = True
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": cluster}],
            "users": [{"name": name, "user": {"token": token}}],
            "contexts": [{"name": name, "context": {"cluster": "c", "user": name, "namespace": ns}}],
            "current-context": name,
        }
        # Named by namespace too: the same account name in another namespace (a stand-in namespace) must
        # not overwrite this file, whose token dies with that namespace (a later test got 401 from it).
        path = out_dir / f"{ns}-{name}.kubeconfig"
        path.write_text(json.dumps(doc))
        return str(path)

    return make


@pytest.fixture(scope="session")
def readme_role_kubeconfig(kubeconfig_for_role: Callable[..., str]) -> str:
    """A kubeconfig for a ServiceAccount bound to nothing but the README's least-privilege Role."""
    from k8s_support import readme_role_rules

    return kubeconfig_for_role("airflow-readme-role", readme_role_rules())


@pytest.fixture
def stand_in_namespace(k8s_cluster: K8sCluster, kubeconfig_for_role: Callable[..., str]) -> Iterator[tuple[str, str]]:
    """A namespace whose Ray pods the harness kubelet runs as stand-ins for its one local Ray head,
    and a kubeconfig for a ServiceAccount bound only to the README's Role there; deleted at the end.

    For what still needs one Ray shared by several clusters (see harness/README.md)."""
    from k8s_support import readme_role_rules
    from kubernetes import client

    from harness.podspec import STAND_IN_ANNOTATION

    if not k8s_cluster.harness:
        pytest.skip("stand-in Ray pods exist on the harness only")
    core = client.CoreV1Api(k8s_cluster.api)
    name = f"krh-stand-in-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name, "labels": {STAND_IN_ANNOTATION: "stand-in"}}})
    try:
        yield name, kubeconfig_for_role("airflow-readme-role", readme_role_rules(), namespace=name)
    finally:
        core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture
def kuberay_conn(k8s_cluster: K8sCluster, k8s_namespace: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A ``kuberay_default`` connection to the tier's cluster and namespace; returns the namespace."""
    from k8s_support import kuberay_connection

    monkeypatch.setenv("AIRFLOW_CONN_KUBERAY_DEFAULT", kuberay_connection(k8s_cluster.kubeconfig, k8s_namespace))
    return k8s_namespace


@pytest.fixture(scope="session")
def shared_cluster(k8s_cluster: K8sCluster, k8s_namespace: str) -> Iterator[str]:
    """One RayCluster ("shared") made ready through the operator, deleted through the operator at the
    end of the session (the tasks' RayJobs run on it; it must survive their failures and timeouts).
    One for the session, not per module: each real head pod costs a Ray start and stop."""
    from k8s_support import kuberay_connection, provider_cluster, task_instance

    from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
    from airflow_provider_kuberay.operators import KubeRayCreateClusterOperator, KubeRayDeleteClusterOperator
    from tests.support.airflow_context import context_for

    def as_the_fixture(call: Callable[[], Any]) -> Any:
        # Its own connection only while it creates and deletes: the tests set theirs (`kuberay_conn`).
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("AIRFLOW_CONN_KUBERAY_DEFAULT", kuberay_connection(k8s_cluster.kubeconfig, k8s_namespace))
            return call()

    try:
        created = as_the_fixture(
            lambda: KubeRayCreateClusterOperator(
                task_id="create",
                cluster=provider_cluster(),
                cluster_name="shared",
                deferrable=False,
                execution_timeout=timedelta(seconds=300),  # a bound on the wait for its real pods
            ).execute(context_for(task_instance("create")))
        )
        assert created["cluster_name"] == "shared"
        assert "/services/shared-head-svc:dashboard/proxy" in created["dashboard_url"]
        yield "shared"
    finally:
        as_the_fixture(
            lambda: KubeRayDeleteClusterOperator(task_id="delete", cluster_name="shared", timeout_seconds=180).execute(
                context_for()
            )
        )
        left = as_the_fixture(lambda: KubeRayHook().list_pods(k8s_namespace, label_selector="ray.io/cluster=shared"))
        assert left == []


@pytest.fixture(scope="module")
def kueue_queue(k8s_cluster: K8sCluster, k8s_namespace: str) -> Iterator[str]:
    """The real Kueue controller, started on the harness for the module (and stopped after it), with a
    ResourceFlavor, a ClusterQueue whose quota fits one small RayJob at a time, and a LocalQueue in
    the tier's namespace; yields the LocalQueue's name."""
    from k8s_support import KUEUE_QUEUE_CPU, kueue_queues

    from harness import kueue

    if k8s_cluster.run_dir is None:
        pytest.skip("Kueue runs on the harness this session starts (with KUBECONFIG set, nothing is installed)")
    kueue.wait_for_build()
    why = kueue.available()
    if why:
        pytest.skip(f"Kueue tests NOT RUN: {why}")
    kueue.start(k8s_cluster.run_dir)  # says how long it took (pytest -rP shows it)
    try:
        with kueue_queues(k8s_cluster.api, k8s_namespace, cpu=KUEUE_QUEUE_CPU) as queue:
            yield queue
    finally:
        kueue.stop(k8s_cluster.run_dir, log=lambda *_: None)
