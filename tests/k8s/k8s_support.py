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
