"""Helpers for the `k8s` tier: manifests and waits that work on the harness and on any cluster."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml

GROUP, VERSION = "ray.io", "v1"
RAY_IMAGE = "rayproject/ray:2.41.0"
T = TypeVar("T")


def wait_for(
    what: str,
    fn: Callable[[], T | None],
    timeout: float = 180,
    interval: float = 1.0,
    describe: Callable[[], Any] | None = None,
) -> T:
    """Poll fn until it returns something truthy; fail with the last value (or error) seen otherwise.

    Errors count as "not yet" (e.g. a 503 from the service proxy while the EndpointSlice catches
    up) until the deadline.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except Exception as e:
            last = e
        else:
            if last:
                return last
        time.sleep(interval)
    extra = f"\nstate: {describe()}" if describe else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r}){extra}")


def _container(name: str, cpu: str = "1", memory: str = "1Gi") -> dict[str, Any]:
    return {
        "name": name,
        "image": RAY_IMAGE,
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}},
    }


def raycluster_spec(workers: int = 1) -> dict[str, Any]:
    return {
        "rayVersion": "2.41.0",
        "headGroupSpec": {
            # Tasks go to the workers if there are any; else the head (a real Ray process) runs them.
            "rayStartParams": {"num-cpus": "0"} if workers else {},
            "template": {"spec": {"containers": [_container("ray-head", "1", "2Gi")]}},
        },
        "workerGroupSpecs": [
            {
                "groupName": "cpu",
                "replicas": workers,
                "minReplicas": 0,
                "maxReplicas": max(workers, 1),
                "rayStartParams": {},
                "template": {"spec": {"containers": [_container("ray-worker")]}},
            }
        ],
    }


def raycluster(name: str, namespace: str, workers: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RayCluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": raycluster_spec(workers),
    }


def rayjob(name: str, namespace: str, entrypoint: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RayJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "entrypoint": entrypoint,
            "submissionMode": "K8sJobMode",
            "shutdownAfterJobFinishes": False,
            "rayClusterSpec": raycluster_spec(0),
            **spec,
        },
    }


def conditions(obj: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or []}


def readme_role_rules() -> list[dict[str, Any]]:
    """The rules of the least-privilege Role in deploy/rbac-role.yaml, checked to be the README's too."""
    root = Path(__file__).resolve().parents[2]
    deployed = (root / "deploy" / "rbac-role.yaml").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", (root / "README.md").read_text(), flags=re.DOTALL)
    in_readme = [yaml.safe_load(block) for block in blocks if "kind: Role" in block]
    assert in_readme == [yaml.safe_load(deployed)], "the README's Role differs from deploy/rbac-role.yaml"
    return list(yaml.safe_load(deployed)["rules"])


# Finished RayJobs stay as the record of a run (KubeRay deletes their clusters after the TTL); at the
# end of the tier they are released like that, and then nothing else may be left.
_FINISHED = ("Complete", "Failed")
_ALWAYS_THERE = {"kube-root-ca.crt"}  # the ConfigMap Kubernetes puts in every namespace


def leftovers(api: Any, namespace: str) -> dict[str, list[str]]:
    """What is in ``namespace`` now: Ray objects, pods, batch Jobs and ConfigMaps, by kind."""
    from kubernetes import client

    custom, core, batch = client.CustomObjectsApi(api), client.CoreV1Api(api), client.BatchV1Api(api)
    found: dict[str, list[str]] = {}
    for plural in ("rayjobs", "rayclusters", "rayservices"):
        items = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)["items"]
        found[plural] = [item["metadata"]["name"] for item in items]
    found["pods"] = [p.metadata.name for p in core.list_namespaced_pod(namespace).items]
    found["jobs"] = [j.metadata.name for j in batch.list_namespaced_job(namespace).items]
    found["configmaps"] = [
        c.metadata.name
        for c in core.list_namespaced_config_map(namespace).items
        if c.metadata.name not in _ALWAYS_THERE
    ]
    return {kind: names for kind, names in found.items() if names}


def release_finished_rayjobs_and_find_leaks(
    api: Any, namespace: str, grace: float = 120.0
) -> tuple[int, dict[str, list[str]]]:
    """
    Delete the finished RayJobs (what KubeRay's TTL and the user would do), wait for what they own
    to go, and return how many were released and what is still left: the leaks.
    """
    from kubernetes import client

    custom = client.CustomObjectsApi(api)
    released = 0
    for job in custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "rayjobs")["items"]:
        if (job.get("status") or {}).get("jobDeploymentStatus") in _FINISHED:
            custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, "rayjobs", job["metadata"]["name"], propagation_policy="Background"
            )
            released += 1
    deadline = time.monotonic() + grace
    while (left := leftovers(api, namespace)) and time.monotonic() < deadline:
        time.sleep(2)
    return released, left


def kuberay_connection(kubeconfig: str, namespace: str) -> str:
    """A ``kuberay`` connection (as an ``AIRFLOW_CONN_*`` value) reaching dashboards through the API server."""
    import json

    extra = {"kube_config_path": kubeconfig, "namespace": namespace, "dashboard_access": "proxy"}
    return json.dumps({"conn_type": "kuberay", "extra": extra})


def task_instance(task_id: str, try_number: int = 1, run_id: str | None = None) -> Any:
    """A task instance of the tier's DAG; the same ``run_id`` and a higher ``try_number`` make a retry."""
    import uuid

    from tests.support.airflow_context import FakeTaskInstance

    return FakeTaskInstance(
        dag_id="k8s_tier", task_id=task_id, run_id=run_id or f"run-{uuid.uuid4().hex[:6]}", try_number=try_number
    )


def serve_config(greeting: str) -> dict[str, Any]:
    """A Serve config of the harness's echo app; ``greeting`` is its user_config."""
    # harness_echo is on the harness Ray head's PYTHONPATH.
    return {
        "applications": [
            {
                "name": "echo",
                "route_prefix": "/",
                "import_path": "harness_echo:app",
                "deployments": [
                    {
                        "name": "Echo",
                        "num_replicas": 1,
                        "user_config": {"greeting": greeting},
                        "ray_actor_options": {"num_cpus": 0.1},
                    }
                ],
            }
        ]
    }


def provider_cluster() -> Any:
    """A small ClusterSpec (head and one CPU worker) for the provider's operators."""
    from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, Resources, WorkerGroup

    return ClusterSpec(
        image="rayproject/ray:2.52.0",
        ray_version="2.52.0",
        head=HeadGroup(resources=Resources(cpu=1, memory="2Gi")),
        worker_groups=[
            WorkerGroup("cpu", replicas=1, min_replicas=0, max_replicas=2, resources=Resources(cpu=1, memory="1Gi"))
        ],
    )


KUEUE_GROUP, KUEUE_VERSION = "kueue.x-k8s.io", "v1beta2"
# The Kueue tests' jobs ask for 1.5 CPUs each (a 1-CPU head, KubeRay's default submitter 0.5): one at a time.
KUEUE_QUEUE_CPU = "2"


@contextlib.contextmanager
def kueue_queues(api: Any, namespace: str, cpu: str) -> Iterator[str]:
    """A ResourceFlavor, a ClusterQueue with ``cpu`` (and ample memory) and a LocalQueue in ``namespace``
    pointing at it; yields the LocalQueue's name and deletes all three at the end."""
    import uuid

    from kubernetes import client

    custom = client.CustomObjectsApi(api)
    suffix = uuid.uuid4().hex[:6]
    flavor, cluster_queue, local_queue = f"harness-{suffix}", f"harness-{suffix}", "harness-queue"
    quota = {
        "coveredResources": ["cpu", "memory"],
        "flavors": [
            {
                "name": flavor,
                "resources": [{"name": "cpu", "nominalQuota": cpu}, {"name": "memory", "nominalQuota": "64Gi"}],
            }
        ],
    }
    made: list[tuple[str | None, str, str]] = []
    api_version = f"{KUEUE_GROUP}/{KUEUE_VERSION}"
    try:
        custom.create_cluster_custom_object(
            KUEUE_GROUP,
            KUEUE_VERSION,
            "resourceflavors",
            {"apiVersion": api_version, "kind": "ResourceFlavor", "metadata": {"name": flavor}, "spec": {}},
        )
        made.append((None, "resourceflavors", flavor))
        custom.create_cluster_custom_object(
            KUEUE_GROUP,
            KUEUE_VERSION,
            "clusterqueues",
            {
                "apiVersion": api_version,
                "kind": "ClusterQueue",
                "metadata": {"name": cluster_queue},
                "spec": {"namespaceSelector": {}, "resourceGroups": [quota]},
            },
        )
        made.append((None, "clusterqueues", cluster_queue))
        custom.create_namespaced_custom_object(
            KUEUE_GROUP,
            KUEUE_VERSION,
            namespace,
            "localqueues",
            {
                "apiVersion": api_version,
                "kind": "LocalQueue",
                "metadata": {"name": local_queue},
                "spec": {"clusterQueue": cluster_queue},
            },
        )
        made.append((namespace, "localqueues", local_queue))
        yield local_queue
    finally:
        for ns, plural, name in reversed(made):
            if ns is None:
                custom.delete_cluster_custom_object(KUEUE_GROUP, KUEUE_VERSION, plural, name)
            else:
                custom.delete_namespaced_custom_object(KUEUE_GROUP, KUEUE_VERSION, ns, plural, name)


def kueue_workload(api: Any, namespace: str, rayjob: str) -> dict[str, Any] | None:
    """The Kueue Workload that stands for the RayJob (its owner), or None."""
    from kubernetes import client

    items = client.CustomObjectsApi(api).list_namespaced_custom_object(
        KUEUE_GROUP, KUEUE_VERSION, namespace, "workloads"
    )["items"]
    for wl in items:
        if any(
            ref.get("kind") == "RayJob" and ref.get("name") == rayjob
            for ref in wl["metadata"].get("ownerReferences") or []
        ):
            return dict(wl)
    return None


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    """The status condition of that type ({} when absent)."""
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}
