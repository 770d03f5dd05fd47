"""Trigger that waits until a RayCluster is ready, failing fast when it cannot become ready."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow_provider_kuberay.kube_labels import CLUSTER_LABEL
from airflow_provider_kuberay.status import cluster_info, cluster_verdict
from airflow_provider_kuberay.triggers.events import ClusterEvent, Outcome, ResourceEvent
from airflow_provider_kuberay.triggers.kuberay_resource import KubeRayResourceTrigger

if TYPE_CHECKING:
    from airflow_provider_kuberay.hooks.kuberay_async import KubeRayAsyncHook


def unschedulable_pods(pods: list[dict[str, Any]]) -> list[str]:
    """Pods the scheduler has given up placing for now, with the scheduler's message."""
    found = []
    for pod in pods:
        for condition in pod.get("status", {}).get("conditions") or []:
            if (
                condition.get("type") == "PodScheduled"
                and condition.get("status") == "False"
                and condition.get("reason") == "Unschedulable"
            ):
                found.append(f"{pod['metadata']['name']}: {condition.get('message', '')}")
    return found


def replica_failure(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The RayCluster's ``ReplicaFailure`` condition when it is true (pods cannot be created)."""
    for condition in obj.get("status", {}).get("conditions") or []:
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            return dict(condition)
    return None


class RayClusterReadyTrigger(KubeRayResourceTrigger):
    """
    Wait until a RayCluster is ready (conditions first, the deprecated ``state`` for older KubeRay).

    Fails fast, with the cluster's recent events, when KubeRay reports ``ReplicaFailure`` or a pod
    of the cluster is unschedulable for longer than ``unschedulable_grace`` seconds.

    :param fail_fast: fail on ReplicaFailure / unschedulable pods instead of waiting for the deadline.
    :param unschedulable_grace: seconds a pod may stay unschedulable (e.g. while a node autoscaler adds nodes).
    """

    event_class = ClusterEvent

    def __init__(self, *args: Any, fail_fast: bool = True, unschedulable_grace: float = 120.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fail_fast = fail_fast
        self.unschedulable_grace = unschedulable_grace
        self._unschedulable_since: float | None = None
        self._last_pod_check = 0.0

    def _arguments(self) -> dict[str, Any]:
        return {**super()._arguments(), "fail_fast": self.fail_fast, "unschedulable_grace": self.unschedulable_grace}

    async def judge(self, hook: KubeRayAsyncHook, obj: dict[str, Any]) -> ResourceEvent | None:
        verdict = cluster_verdict(obj)
        await self.note_hold(hook, obj, verdict)
        if verdict.ready:
            info = cluster_info(obj)
            return self.event(Outcome.SUCCEEDED, phase=verdict.phase.value, head_service_name=info.head_service_name)
        if verdict.failed:
            return await self._failure(hook, verdict.reason, verdict.message)
        if not self.fail_fast:
            return None
        condition = replica_failure(obj)
        if condition is not None:
            return await self._failure(hook, condition.get("reason", "ReplicaFailure"), condition.get("message", ""))
        return await self._check_scheduling(hook)

    async def _check_scheduling(self, hook: KubeRayAsyncHook) -> ResourceEvent | None:
        now = time.monotonic()
        if now - self._last_pod_check < min(self.resync_interval, 10.0):
            return None
        self._last_pod_check = now
        pods = await hook.list_pods(self.namespace, label_selector=f"{CLUSTER_LABEL}={self.name}")
        stuck = unschedulable_pods(pods)
        if not stuck:
            self._unschedulable_since = None
            return None
        self._unschedulable_since = self._unschedulable_since or now
        if now - self._unschedulable_since < self.unschedulable_grace:
            return None
        return await self._failure(hook, "Unschedulable", "; ".join(stuck))

    async def _failure(self, hook: KubeRayAsyncHook, reason: str, message: str) -> ResourceEvent:
        return self.event(Outcome.FAILED, reason=reason, message=message, events=await self.recent_events(hook))
