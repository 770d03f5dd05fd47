"""
Ray token auth on the real control plane and KubeRay operator (v1.6.2): a RayJob whose cluster has
``authOptions.mode: token`` (``ClusterSpec(ray_token_auth=True)``). KubeRay generates the token
Secret and gives it to the Ray pods (``RAY_AUTH_MODE``, ``RAY_AUTH_TOKEN`` from a ``secretKeyRef``,
which the harness's kubelet resolves); the head then refuses a request without the token (401) or
with a wrong one (403), so the job reaching ``SUCCEEDED`` means KubeRay's own dashboard client read
the Secret and sent the token. The provider reads the same Secret and sends the token as
``X-Ray-Authorization`` through the API server's proxy (its log stream works); the token never
reaches the task log or XComs.

Not here: ``enableK8sTokenAuth`` (the Kubernetes credential as Ray's token; KubeRay v1.6+, Ray 2.55+),
which the provider refuses for now.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import pytest
from k8s_support import provider_cluster, task_instance

from airflow_provider_kuberay.exceptions import RayDashboardError
from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
from airflow_provider_kuberay.operators import KubeRayRunJobOperator
from tests.support.airflow_context import context_for

pytestmark = pytest.mark.k8s

# KubeRay fails the RayJob after this (DeadlineExceeded, with its message): the test fails well before
# pytest-timeout. The job takes ~60 s on an idle machine, ~100 s at load ~20.
DEADLINE_SECONDS = 240
WRONG_TOKEN = "Bearer wrong-" + "0" * 24


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
