"""RayCluster status -> verdict (ready, pending, suspended), plus the facts needed to reach it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_kuberay.status.verdict import (
    Phase,
    Verdict,
    conditions,
    generation_lag,
    is_true,
    kueue_hold,
    status_of,
    text,
)

HEAD_POD_READY = "HeadPodReady"
PROVISIONED = "RayClusterProvisioned"
REPLICA_FAILURE = "ReplicaFailure"
SUSPENDING = "RayClusterSuspending"
SUSPENDED = "RayClusterSuspended"
_KNOWN = (HEAD_POD_READY, PROVISIONED, REPLICA_FAILURE, SUSPENDING, SUSPENDED)


def cluster_verdict(obj: Mapping[str, Any] | None) -> Verdict:
    """
    Interpret a RayCluster.

    Conditions come first (KubeRay >= 1.2): READY once ``RayClusterProvisioned`` (all pods were
    ready once) and ``HeadPodReady`` are both true. Without conditions, the deprecated
    ``status.state`` decides (``ready``/``suspended``; ``failed`` from old operators). A
    ``ReplicaFailure`` is reported on a PENDING verdict, not as terminal: KubeRay keeps retrying.

    A suspended RayCluster labelled with a Kueue queue is SUSPENDED (``Queued``), naming the queue.

    :param obj: the RayCluster as returned by the API.
    """
    return kueue_hold(obj, _cluster_status_verdict(obj))


def _cluster_status_verdict(obj: Mapping[str, Any] | None) -> Verdict:
    status = status_of(obj)
    if not status:
        return Verdict(Phase.PENDING, "NoStatus", "the KubeRay operator has not reported on this cluster yet")
    found = conditions(status)
    if is_true(found, SUSPENDED):
        return Verdict(Phase.SUSPENDED, found[SUSPENDED].reason or SUSPENDED, found[SUSPENDED].message)
    if is_true(found, SUSPENDING):
        return Verdict(Phase.SUSPENDED, SUSPENDING, found[SUSPENDING].message or "the cluster is being suspended")
    if generation_lag(obj):
        return Verdict(Phase.PENDING, "SpecChangeNotObserved", "the operator has not reconciled the latest spec yet")
    if any(kind in found for kind in _KNOWN):
        return _from_conditions(found)
    return _from_state(status)


def _from_conditions(found: Mapping[str, Any]) -> Verdict:
    head = found.get(HEAD_POD_READY)
    provisioned = found.get(PROVISIONED)
    if is_true(found, HEAD_POD_READY) and is_true(found, PROVISIONED):
        return Verdict(Phase.READY, provisioned.reason if provisioned else "", "head pod ready, all pods provisioned")
    if is_true(found, REPLICA_FAILURE):
        failure = found[REPLICA_FAILURE]
        return Verdict(Phase.PENDING, failure.reason or REPLICA_FAILURE, failure.message)
    for condition in (head, provisioned):
        if condition is not None and condition.status is not True:
            return Verdict(Phase.PENDING, condition.reason or condition.type, condition.message)
    return Verdict(Phase.PENDING, "Provisioning", "waiting for the head pod and workers")


def _from_state(status: Mapping[str, Any]) -> Verdict:
    state = text(status, "state").lower()
    reason = text(status, "reason")
    if state == "ready":
        return Verdict(Phase.READY, "StateReady", "status.state is ready (no conditions reported)")
    if state == "suspended":
        return Verdict(Phase.SUSPENDED, "StateSuspended", "")
    if state == "failed":
        return Verdict(Phase.FAILED, "StateFailed", reason or "status.state is failed")
    return Verdict(Phase.PENDING, "Provisioning", reason or f"status.state is {state or 'unset'}")


@dataclass(frozen=True)
class ClusterInfo:
    """
    Where a RayCluster can be reached and how big it is.

    :param head_service_name: the head service (the Ray dashboard is on its port 8265).
    :param head_pod_name: the head pod.
    :param head_pod_ip: the head pod's IP.
    :param endpoints: port name -> port, e.g. ``{"dashboard": "8265"}``.
    :param ready_worker_replicas: ready worker pods.
    :param desired_worker_replicas: desired worker pods.
    """

    head_service_name: str = ""
    head_pod_name: str = ""
    head_pod_ip: str = ""
    endpoints: Mapping[str, str] = field(default_factory=dict)
    ready_worker_replicas: int = 0
    desired_worker_replicas: int = 0


def cluster_info(obj: Mapping[str, Any] | None) -> ClusterInfo:
    """
    Extract the reachability facts of a RayCluster's status.

    :param obj: the RayCluster as returned by the API.
    """
    status = status_of(obj)
    head = status.get("head")
    head = head if isinstance(head, Mapping) else {}
    endpoints = status.get("endpoints")
    return ClusterInfo(
        head_service_name=text(head, "serviceName"),
        head_pod_name=text(head, "podName"),
        head_pod_ip=text(head, "podIP"),
        endpoints={str(k): str(v) for k, v in endpoints.items()} if isinstance(endpoints, Mapping) else {},
        ready_worker_replicas=_count(status.get("readyWorkerReplicas")),
        desired_worker_replicas=_count(status.get("desiredWorkerReplicas")),
    )


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
