"""Helpers for the `k8s` tier: manifests and waits that work on the harness and on any cluster."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

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
            "rayStartParams": {"num-cpus": "0"},
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
