"""
Ray token auth on the real control plane and KubeRay operator (v1.6.2): a RayJob whose cluster has
``authOptions.mode: token`` (``ClusterSpec(ray_token_auth=True)``). KubeRay generates the token
Secret and gives it to the Ray pods (``RAY_AUTH_MODE``, ``RAY_AUTH_TOKEN`` from a ``secretKeyRef``,
which the harness's kubelet resolves); the head then refuses a request without the token (401) or
with a wrong one (403), so the job reaching ``SUCCEEDED`` means KubeRay's own dashboard client read
the Secret and sent the token. The provider reads the same Secret and sends the token as
``X-Ray-Authorization`` through the API server's proxy (its log stream works); the token never
reaches the task log or XComs.

Then Kubernetes credentials as the tokens (``authOptions.enableK8sTokenAuth``; KubeRay v1.6.2, the
venv's Ray 2.60): a RayCluster made with ``ClusterSpec(ray_k8s_token_auth=True)``. KubeRay makes no
token Secret; it sets ``RAY_AUTH_MODE=token`` and ``RAY_ENABLE_K8S_TOKEN_AUTH=true`` on the Ray
container and mounts a projected service-account
token at ``/var/run/secrets/ray.io/serviceaccount``. The harness's kubelet projects it (and the
default service-account token and CA at ``/var/run/secrets/kubernetes.io/serviceaccount``, with
``KUBERNETES_SERVICE_HOST``/``PORT`` at the node gateway) into the pod's own mount namespace, where
Ray's fixed paths find them. For every bearer token it gets, the Ray head asks the API server: a
TokenReview, then a SubjectAccessReview for the verb ``ray:write`` on that RayCluster, with the
pods' own service account (bound here to ``create`` on both reviews and ``ray:write``, as KubeRay's
sample does).

The provider, as a ServiceAccount bound to the README's Role (which holds ``ray:write`` on
rayclusters), submits a job by cluster name through the API server's proxy with its own token as
``X-Ray-Authorization``: the job runs and its log streams into the task log. A wrong token is
refused (403), no token too (401), and so is a real Kubernetes identity without ``ray:write``
(403). The token never reaches the task log or XComs.

Not here, because KubeRay v1.6.2 cannot do it (the provider refuses both before creating anything): a RayJob
with such a cluster of its own (KubeRay's validation: "K8s token auth mode is currently not supported
for RayJob"), or a RayJob on an existing such cluster by ``cluster_name`` (KubeRay's dashboard client
then reads a token Secret the cluster does not have: "failed to get auth secret", and the RayJob
stays Running).
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from k8s_support import kuberay_connection, provider_cluster, readme_role_rules, task_instance

from airflow_provider_kuberay.exceptions import RayDashboardError
from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
from airflow_provider_kuberay.operators import (
    KubeRayCreateClusterOperator,
    KubeRayRunJobOperator,
    KubeRaySubmitJobOperator,
)
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, PodOptions, Resources
from tests.support.airflow_context import context_for
from tests.support.k8s_harness import K8sCluster

pytestmark = pytest.mark.k8s

# KubeRay fails the RayJob after this (DeadlineExceeded, with its message): the test fails well before
# pytest-timeout. The job takes ~60 s on an idle machine, ~100 s at load ~20.
DEADLINE_SECONDS = 240
WRONG_TOKEN = "Bearer wrong-" + "0" * 24
# The first Ray with Kubernetes token auth (KubeRay checks rayVersion); the harness runs the venv's.
K8S_AUTH_RAY = "2.55.0"


def _pods_state(core: Any, namespace: str, job_name: str) -> str:
    """Each pod of the job's cluster with its phase and waiting reasons: why a cluster never got ready."""
    job = KubeRayHook().get_object("RayJob", job_name, namespace)
    cluster = (job.get("status") or {}).get("rayClusterName", "")
    pods = core.list_namespaced_pod(namespace, label_selector=f"ray.io/cluster={cluster}").items if cluster else []
    parts = []
    for pod in pods:
        waiting = [
            f"{s.name}: {s.state.waiting.reason} {s.state.waiting.message or ''}".strip()
            for s in (pod.status.container_statuses or []) + (pod.status.init_container_statuses or [])
            if s.state and s.state.waiting
        ]
        parts.append(f"{pod.metadata.name} {pod.status.phase} {waiting}")
    return "; ".join(parts) or "no pods"


def _refusal(endpoint: Any, submission_id: str) -> RayDashboardError:
    with pytest.raises(RayDashboardError) as info:
        RayDashboardHook(None, endpoint=endpoint).get_job_info(submission_id)
    return info.value


def test_a_token_auth_cluster_runs_its_job_with_the_generated_token(
    kuberay_conn: str, core: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ti = task_instance("token_auth")
    op = KubeRayRunJobOperator(
        task_id=ti.task_id,
        entrypoint="python -c \"print('behind token auth')\"",
        cluster=replace(provider_cluster(), ray_token_auth=True),
        active_deadline_seconds=DEADLINE_SECONDS,
        delete_on_kill=False,  # a RayJob failed by its deadline stays until `finally`, so its pods can say why
        deferrable=False,
        resync_interval=1,
    )
    hook = KubeRayHook()
    try:
        try:
            summary = op.execute(context_for(ti))
        except Exception as err:
            pods = _pods_state(core, kuberay_conn, str(ti.xcoms.get("name", "")))
            raise AssertionError(f"the token-auth RayJob did not succeed: {err}; pods: {pods}") from err
        assert (summary["job_deployment_status"], summary["job_status"]) == ("Complete", "SUCCEEDED")
        cluster_name = summary["ray_cluster_name"]
        cluster = hook.get_object("RayCluster", cluster_name, kuberay_conn)
        assert cluster["spec"]["authOptions"] == {"mode": "token"}
        # KubeRay generated the token into a Secret named after the cluster, key auth_token (the
        # cluster outlives its job by the TTL, 300 s by default).
        data = core.read_namespaced_secret(cluster_name, kuberay_conn).data
        token = base64.b64decode(data["auth_token"]).decode().strip()
        assert len(token) >= 16
        # ... and gave it to the head's Ray container from that Secret.
        (head,) = core.list_namespaced_pod(
            kuberay_conn, label_selector=f"ray.io/cluster={cluster_name},ray.io/node-type=head"
        ).items
        env = {e.name: e for e in head.spec.containers[0].env}
        assert env["RAY_AUTH_MODE"].value == "token"
        ref = env["RAY_AUTH_TOKEN"].value_from.secret_key_ref
        assert (ref.name, ref.key) == (cluster_name, "auth_token")
        # The provider reaches the dashboard with that very token in X-Ray-Authorization.
        endpoint = hook.dashboard_endpoint(cluster_name, kuberay_conn)
        assert endpoint.headers["X-Ray-Authorization"] == f"Bearer {token}"
        submission_id = summary["job_id"]
        assert RayDashboardHook(None, endpoint=endpoint).get_job_info(submission_id)["status"] == "SUCCEEDED"
        # The head really enforces it, so KubeRay's own status reads (which saw SUCCEEDED) carried the
        # token too: without it 401, with a wrong one 403, each naming the cause.
        bare = replace(endpoint, headers={k: v for k, v in endpoint.headers.items() if k != "X-Ray-Authorization"})
        wrong = replace(endpoint, headers={**endpoint.headers, "X-Ray-Authorization": WRONG_TOKEN})
        for probe, status in ((bare, 401), (wrong, 403)):
            refused = _refusal(probe, submission_id)
            assert refused.http_status == status, str(refused)
            assert "refused the Ray token" in str(refused)
            assert token not in str(refused)
        out = capsys.readouterr().out
        assert "[ray] behind token auth" in out
        assert token not in out
        assert token not in json.dumps(ti.xcoms, default=str)
    finally:
        if "name" in ti.xcoms:
            hook.delete_object("RayJob", str(ti.xcoms["name"]), kuberay_conn)
            hook.wait_until_deleted("RayJob", str(ti.xcoms["name"]), kuberay_conn, timeout=90)


@pytest.fixture
def ray_pods_account(k8s_cluster: K8sCluster, k8s_namespace: str) -> Iterator[str]:
    """A ServiceAccount for the Ray pods that may review tokens and ``ray:write`` RayClusters in the
    namespace (what KubeRay's enableK8sTokenAuth sample binds); every object removed at the end."""
    from kubernetes import client

    core, rbac = client.CoreV1Api(k8s_cluster.api), client.RbacAuthorizationV1Api(k8s_cluster.api)
    name = f"ray-pods-{uuid.uuid4().hex[:6]}"  # also the cluster-scoped objects' name
    ref = {"kind": "ServiceAccount", "name": name, "namespace": k8s_namespace}
    reviews = [
        {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
        {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
    ]
    writer = [{"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["ray:write"]}]
    core.create_namespaced_service_account(k8s_namespace, {"metadata": {"name": name}})
    try:
        rbac.create_cluster_role({"metadata": {"name": name}, "rules": reviews})
        rbac.create_cluster_role_binding(
            {
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                "subjects": [ref],
            }
        )
        rbac.create_namespaced_role(k8s_namespace, {"metadata": {"name": name}, "rules": writer})
        rbac.create_namespaced_role_binding(
            k8s_namespace,
            {
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [ref],
            },
        )
        yield name
    finally:
        for delete in (rbac.delete_cluster_role_binding, rbac.delete_cluster_role):
            _gone(delete, name)
        for delete in (rbac.delete_namespaced_role_binding, rbac.delete_namespaced_role):
            _gone(delete, name, k8s_namespace)
        _gone(core.delete_namespaced_service_account, name, k8s_namespace)


def _gone(delete: Callable[..., Any], *args: str) -> None:
    """Delete; already gone is fine."""
    from kubernetes.client.rest import ApiException

    try:
        delete(*args)
    except ApiException as err:
        if err.status != 404:
            raise


def _without_ray_write() -> list[dict[str, Any]]:
    rules = copy.deepcopy(readme_role_rules())
    return [rule for rule in rules if "ray:write" not in rule["verbs"]]


def test_a_cluster_with_kubernetes_token_auth_takes_the_callers_own_token(
    k8s_cluster: K8sCluster,
    k8s_namespace: str,
    ray_pods_account: str,
    readme_role_kubeconfig: str,
    kubeconfig_for_role: Callable[..., str],
    core: Any,
    custom: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KUBERAY_DEFAULT", kuberay_connection(readme_role_kubeconfig, k8s_namespace))
    name = f"k8sauth-{uuid.uuid4().hex[:5]}"
    spec = ClusterSpec(
        image=f"rayproject/ray:{K8S_AUTH_RAY}",
        ray_version=K8S_AUTH_RAY,
        head=HeadGroup(resources=Resources(cpu=1, memory="2Gi"), pod=PodOptions(service_account_name=ray_pods_account)),
        ray_k8s_token_auth=True,
    )
    hook = KubeRayHook()
    create_ti, ti = task_instance("k8sauth_create"), task_instance("k8sauth_submit")
    try:
        KubeRayCreateClusterOperator(
            task_id=create_ti.task_id,
            cluster=spec,
            cluster_name=name,
            deferrable=False,
            execution_timeout=timedelta(seconds=180),  # a bound on the wait for its real head pod
        ).execute(context_for(create_ti))
        cluster = hook.get_object("RayCluster", name, k8s_namespace)
        assert cluster["spec"]["authOptions"] == {"mode": "token", "enableK8sTokenAuth": True}
        (head,) = core.list_namespaced_pod(
            k8s_namespace, label_selector=f"ray.io/cluster={name},ray.io/node-type=head"
        ).items
        env = {e.name: e.value for e in head.spec.containers[0].env}
        assert (env["RAY_AUTH_MODE"], env["RAY_ENABLE_K8S_TOKEN_AUTH"]) == ("token", "true")
        assert "RAY_AUTH_TOKEN" not in env
        mounts = {m.mount_path for m in head.spec.containers[0].volume_mounts}
        assert "/var/run/secrets/ray.io/serviceaccount" in mounts
        assert not [s for s in core.list_namespaced_secret(k8s_namespace).items if s.metadata.name == name]

        # The provider's own Kubernetes token is the Ray token: a job by cluster name, its log streamed.
        KubeRaySubmitJobOperator(
            task_id=ti.task_id,
            entrypoint="python -c \"print('behind kubernetes token auth')\"",
            cluster_name=name,
            deferrable=False,
            poll_interval=1,
            execution_timeout=timedelta(seconds=90),
        ).execute(context_for(ti))
        assert ti.xcoms["job_status"] == "SUCCEEDED"
        endpoint = hook.dashboard_endpoint(name, k8s_namespace)
        token = endpoint.headers["Authorization"].removeprefix("Bearer ")
        assert endpoint.headers["X-Ray-Authorization"] == f"Bearer {token}"
        assert token == json.loads(Path(readme_role_kubeconfig).read_text())["users"][0]["user"]["token"]
        submission_id = str(ti.xcoms["submission_id"])
        assert RayDashboardHook(None, endpoint=endpoint).get_job_info(submission_id)["status"] == "SUCCEEDED"

        # The head asks Kubernetes about every token: a wrong one and none are refused, and so is a
        # real identity whose Role lacks ray:write on the cluster.
        bare = replace(endpoint, headers={k: v for k, v in endpoint.headers.items() if k != "X-Ray-Authorization"})
        wrong = replace(endpoint, headers={**endpoint.headers, "X-Ray-Authorization": WRONG_TOKEN})
        monkeypatch.setenv(
            "AIRFLOW_CONN_KUBERAY_DEFAULT",
            kuberay_connection(kubeconfig_for_role("airflow-no-ray-write", _without_ray_write()), k8s_namespace),
        )
        unbound = KubeRayHook().dashboard_endpoint(name, k8s_namespace)
        assert unbound.headers["X-Ray-Authorization"] != endpoint.headers["X-Ray-Authorization"]
        for probe, status in ((bare, 401), (wrong, 403), (unbound, 403)):
            with pytest.raises(RayDashboardError) as refused:
                RayDashboardHook(None, endpoint=probe).get_job_info(submission_id)
            assert refused.value.http_status == status, str(refused.value)
            assert "refused the Ray token" in str(refused.value)
            assert "ray:write" in str(refused.value)
        # KubeRay v1.6.2 could not follow a RayJob there: refused before anything is created.
        with pytest.raises(ValueError, match=r"enableK8sTokenAuth, and KubeRay \(v1.6.2\) cannot follow a RayJob"):
            KubeRayRunJobOperator(
                task_id="k8sauth_rayjob", entrypoint="python -c 'print(1)'", cluster_name=name, deferrable=False
            ).execute(context_for(task_instance("k8sauth_rayjob")))
        jobs = custom.list_namespaced_custom_object("ray.io", "v1", k8s_namespace, "rayjobs")["items"]
        assert [j for j in jobs if (j["spec"].get("clusterSelector") or {}).get("ray.io/cluster") == name] == []
        out = capsys.readouterr().out
        assert "[ray] behind kubernetes token auth" in out
        assert token not in out
        assert token not in json.dumps(ti.xcoms, default=str)
    finally:
        # As the tier's admin: the identities above are what the test checks, not what cleans up (the
        # Role-bound hook's delete here was once refused with 401 in a full-tier run, maybe from the
        # kubeconfig file a stand-in namespace's account overwrote; see tests/k8s/conftest.py).
        monkeypatch.setenv("AIRFLOW_CONN_KUBERAY_DEFAULT", kuberay_connection(k8s_cluster.kubeconfig, k8s_namespace))
        admin = KubeRayHook()
        admin.delete_object("RayCluster", name, k8s_namespace)
        admin.wait_until_deleted("RayCluster", name, k8s_namespace, timeout=90)
