"""Smoke tests of the real KubeRay operator on a real API server (the harness, or any KUBECONFIG).

They use the `kubernetes` client directly, below the provider, to pin down the behaviour the
provider relies on: conditions, RayJob terminal states and reasons, garbage collection, and the
API server's service proxy reaching a Ray dashboard.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from k8s_support import GROUP, VERSION, conditions, raycluster, raycluster_spec, rayjob, wait_for

pytestmark = pytest.mark.k8s


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:5]}"


def _get(custom: Any, plural: str, ns: str, name: str) -> dict[str, Any]:
    return custom.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name)


def _gone(custom: Any, plural: str, ns: str, name: str) -> bool:
    from kubernetes.client.rest import ApiException

    try:
        _get(custom, plural, ns, name)
    except ApiException as e:
        return e.status == 404
    return False


def _proxy_get(
    k8s_cluster: Any, ns: str, service: str, path: str, port: str = "dashboard", as_json: bool = True
) -> Any:
    """GET through the API server's service proxy (it dials the endpoint pod's IP)."""
    from kubernetes import client

    resp = client.CoreV1Api(k8s_cluster.api).connect_get_namespaced_service_proxy_with_path(
        f"{service}:{port}", ns, path.lstrip("/"), _preload_content=False, _request_timeout=10
    )
    body = resp.data.decode()
    assert resp.status == 200, body
    return json.loads(body) if as_json else body


def test_crds_installed(k8s_cluster: Any) -> None:
    from kubernetes import client

    ext = client.ApiextensionsV1Api(k8s_cluster.api)
    for plural in ("rayclusters", "rayjobs", "rayservices"):
        crd = ext.read_custom_resource_definition(f"{plural}.ray.io")
        assert any(v.name == "v1" and v.served for v in crd.spec.versions)
        assert {c.type: c.status for c in crd.status.conditions}["Established"] == "True"


def test_raycluster_ready_proxy_and_gc(k8s_cluster: Any, k8s_namespace: str, custom: Any, core: Any) -> None:
    ns, name = k8s_namespace, _name("rc")
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, "rayclusters", raycluster(name, ns, workers=1))

    def ready() -> dict[str, Any] | None:
        rc = _get(custom, "rayclusters", ns, name)
        c = conditions(rc)
        ok = c.get("HeadPodReady") == "True" and c.get("RayClusterProvisioned") == "True"
        return rc if ok else None

    rc = wait_for("RayCluster ready", ready, describe=lambda: _get(custom, "rayclusters", ns, name).get("status"))
    assert rc["status"]["state"] == "ready"
    assert rc["status"]["head"]["serviceName"] == f"{name}-head-svc"
    pods = core.list_namespaced_pod(ns, label_selector=f"ray.io/cluster={name}").items
    assert len(pods) == 2
    assert all(p.status.phase == "Running" and p.status.pod_ip for p in pods)

    # The service proxy dials the head pod IP; it must reach the Ray dashboard behind it.
    service = rc["status"]["head"]["serviceName"]
    version = wait_for(
        "dashboard through the service proxy", lambda: _proxy_get(k8s_cluster, ns, service, "/api/version"), timeout=60
    )
    assert "ray_version" in version

    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, "rayclusters", name)
    wait_for("RayCluster gone", lambda: _gone(custom, "rayclusters", ns, name), timeout=60)
    wait_for(
        "pods garbage-collected",
        lambda: not core.list_namespaced_pod(ns, label_selector=f"ray.io/cluster={name}").items,
        timeout=120,
    )
    wait_for(
        "head service garbage-collected",
        lambda: not [s for s in core.list_namespaced_service(ns).items if s.metadata.name == service],
        timeout=120,
    )


def _terminal(custom: Any, ns: str, name: str) -> dict[str, Any] | None:
    job = _get(custom, "rayjobs", ns, name)
    st = job.get("status") or {}
    if st.get("jobDeploymentStatus") in ("Complete", "Failed", "ValidationFailed"):
        return job
    return None


@pytest.mark.parametrize("mode", ["K8sJobMode", "HTTPMode"])
def test_rayjob_runs_on_ray_and_completes(
    k8s_cluster: Any, k8s_namespace: str, custom: Any, core: Any, mode: str
) -> None:
    ns, name = k8s_namespace, _name("job-ok")
    entry = "python -c \"import ray; ray.init(); print('harness-answer', ray.get(ray.remote(lambda: 6 * 7).remote()))\""
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, "rayjobs", rayjob(name, ns, entry, submissionMode=mode))
    job = wait_for(
        "RayJob terminal",
        lambda: _terminal(custom, ns, name),
        timeout=300,
        describe=lambda: _get(custom, "rayjobs", ns, name).get("status"),
    )
    st = job["status"]
    assert (st["jobDeploymentStatus"], st["jobStatus"]) == ("Complete", "SUCCEEDED"), st
    assert st["jobId"]
    assert st["rayClusterName"]

    # The output really came from Ray: read the job's logs through the head service.
    rc = _get(custom, "rayclusters", ns, st["rayClusterName"])
    logs = _proxy_get(k8s_cluster, ns, rc["status"]["head"]["serviceName"], f"/api/jobs/{st['jobId']}/logs")
    assert "harness-answer 42" in logs["logs"]
    if mode == "K8sJobMode":
        _check_submitter_log(core, ns, name)
    _delete_job(custom, ns, name, st["rayClusterName"])


def _check_submitter_log(core: Any, ns: str, name: str) -> None:
    # The K8sJobMode submitter really ran `ray job submit` + `ray job logs --follow`: its pod log
    # (pods/log, served by the node) carries the job's output too.
    submitters = core.list_namespaced_pod(ns, label_selector=f"batch.kubernetes.io/job-name={name}").items
    assert submitters, "no submitter pod"
    assert any("harness-answer 42" in core.read_namespaced_pod_log(p.metadata.name, ns) for p in submitters)


def _delete_job(custom: Any, ns: str, name: str, cluster: str) -> None:
    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, "rayjobs", name)
    wait_for("RayJob's cluster gone", lambda: _gone(custom, "rayclusters", ns, cluster), timeout=120)


def test_rayjob_failing_entrypoint_is_app_failed(k8s_namespace: str, custom: Any) -> None:
    ns, name = k8s_namespace, _name("job-bad")
    entry = "python -c \"import sys; print('about to fail'); sys.exit(3)\""
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, "rayjobs", rayjob(name, ns, entry))
    job = wait_for(
        "RayJob terminal",
        lambda: _terminal(custom, ns, name),
        timeout=300,
        describe=lambda: _get(custom, "rayjobs", ns, name).get("status"),
    )
    st = job["status"]
    assert st["jobDeploymentStatus"] == "Failed", st
    assert st["jobStatus"] == "FAILED", st
    assert st["reason"] == "AppFailed", st
    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, "rayjobs", name)


SERVE_CONFIG = """\
applications:
  - name: echo
    route_prefix: /
    import_path: harness_echo:app
    deployments:
      - name: Echo
        num_replicas: 1
        user_config:
          greeting: hi
        ray_actor_options:
          num_cpus: 0.1
"""


def test_rayservice_serves_its_app(k8s_cluster: Any, k8s_namespace: str, custom: Any) -> None:
    if not k8s_cluster.harness:
        pytest.skip("the RayService smoke test deploys the harness's own Serve app (harness_echo)")
    from devtools.local_ray import has_serve

    if not has_serve(k8s_cluster.ray_bin):
        pytest.skip("RayService NOT RUN: Ray Serve is not installed (add ray[serve] to the venv)")
    ns, name = k8s_namespace, _name("svc")
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RayService",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"serveConfigV2": SERVE_CONFIG, "rayClusterConfig": raycluster_spec(0)},
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, "rayservices", body)

    def serving() -> dict[str, Any] | None:
        svc = _get(custom, "rayservices", ns, name)
        return svc if conditions(svc).get("Ready") == "True" else None

    svc = wait_for(
        "RayService Ready", serving, timeout=300, describe=lambda: _get(custom, "rayservices", ns, name).get("status")
    )
    apps = svc["status"]["activeServiceStatus"]["applicationStatuses"]
    assert apps["echo"]["status"] == "RUNNING", apps
    # A real request through the serve service: API server -> pod IP -> Serve on the Ray head.
    reply = wait_for(
        "reply through the serve service",
        lambda: _proxy_get(k8s_cluster, ns, f"{name}-serve-svc", "/", port="serve", as_json=False),
        timeout=60,
    )
    assert reply == "hi from the harness"

    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, "rayservices", name)
    wait_for("RayService gone", lambda: _gone(custom, "rayservices", ns, name), timeout=120)


def test_rbac_is_enforced(k8s_namespace: str, kubeconfig_for_role: Any) -> None:
    from kubernetes import client
    from kubernetes import config as kconfig
    from kubernetes.client.rest import ApiException

    path = kubeconfig_for_role(
        "reader", [{"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["get", "list", "watch"]}]
    )
    custom = client.CustomObjectsApi(kconfig.new_client_from_config(config_file=path))
    custom.list_namespaced_custom_object(GROUP, VERSION, k8s_namespace, "rayclusters")
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(
            GROUP, VERSION, k8s_namespace, "rayclusters", raycluster("forbidden", k8s_namespace)
        )
    assert err.value.status == 403
    with pytest.raises(ApiException) as err:
        custom.list_namespaced_custom_object(GROUP, VERSION, k8s_namespace, "rayjobs")
    assert err.value.status == 403
