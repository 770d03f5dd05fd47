"""Trigger that waits until a RayService serves (a given generation of) its config, reporting progress."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_kuberay.status.service import ServiceProgress, service_progress, service_verdict
from airflow_provider_kuberay.status.verdict import Phase, status_of
from airflow_provider_kuberay.triggers.events import Outcome, ResourceEvent, ServiceEvent
from airflow_provider_kuberay.triggers.kuberay_resource import KubeRayResourceTrigger

if TYPE_CHECKING:
    from airflow_provider_kuberay.hooks.kuberay_async import KubeRayAsyncHook

APP_UNHEALTHY = "UNHEALTHY"


@dataclass(frozen=True)
class ServingCheck:
    """
    Where a RayService stands against what a task waits for.

    :param serving: the wanted config is what serves.
    :param failed: KubeRay or Serve reports a failure that will not heal by itself.
    :param reason: short reason.
    :param message: human explanation (Serve's message for a failed application).
    :param progress: a one-line progress report (pending cluster, application statuses, traffic).
    :param unhealthy: applications reported ``UNHEALTHY`` (``name: message``).
    """

    serving: bool
    failed: bool
    reason: str
    message: str
    progress: str
    unhealthy: tuple[str, ...] = ()


def check_serving(
    obj: Mapping[str, Any],
    *,
    generation: int | None = None,
    applications: Sequence[str] = (),
    replaced_cluster: str | None = None,
) -> ServingCheck:
    """
    Judge a RayService against the wanted config (pure; shared by the trigger and the sensor).

    Serving means: the verdict is SERVING (Ready, no upgrade in progress, no pending cluster, status
    of the current spec, every active application RUNNING), ``status.observedGeneration`` has reached
    ``generation``, every name in ``applications`` runs on the active cluster, and the active cluster
    is not ``replaced_cluster`` (the pending cluster was promoted).

    :param obj: the RayService.
    :param generation: the ``metadata.generation`` our change produced (None: any).
    :param applications: application names of the wanted Serve config.
    :param replaced_cluster: the active cluster before a cluster-spec change.
    """
    verdict = service_verdict(obj)
    progress = service_progress(obj)
    line = describe_progress(obj, progress)
    unhealthy = tuple(
        f"{app.name}: {app.message or APP_UNHEALTHY}"
        for cluster in (progress.active, progress.pending)
        for app in cluster.applications
        if app.status == APP_UNHEALTHY
    )
    if verdict.failed:
        return ServingCheck(False, True, verdict.reason, verdict.message, line, unhealthy)
    observed = status_of(obj).get("observedGeneration")
    if generation is not None and isinstance(observed, int) and observed < generation:
        return ServingCheck(False, False, "SpecChangeNotObserved", f"observed generation {observed}", line, unhealthy)
    if verdict.phase is not Phase.SERVING:
        return ServingCheck(False, False, verdict.reason, verdict.message, line, unhealthy)
    active = {app.name: app.status for app in progress.active.applications}
    missing = [name for name in applications if active.get(name) != "RUNNING"]
    if missing:
        return ServingCheck(False, False, "ApplicationsMissing", "not running yet: " + ", ".join(missing), line)
    if replaced_cluster and progress.active.cluster_name == replaced_cluster:
        return ServingCheck(False, False, "NotPromoted", f"{replaced_cluster} still active", line)
    return ServingCheck(True, False, verdict.reason, verdict.message, line)


def describe_progress(obj: Mapping[str, Any], progress: ServiceProgress | None = None) -> str:
    """A one-line report: active/pending clusters, their applications and traffic, the verdict."""
    progress = progress or service_progress(obj)
    parts = []
    for slot, cluster in (("active", progress.active), ("pending", progress.pending)):
        if not cluster.exists:
            continue
        apps = ", ".join(f"{a.name}={a.status}" for a in cluster.applications) or "no applications yet"
        traffic = f", traffic {cluster.traffic_routed_percent}%" if cluster.traffic_routed_percent is not None else ""
        parts.append(f"{slot} {cluster.cluster_name} [{apps}{traffic}]")
    parts.append(service_verdict(obj).describe())
    return "; ".join(parts)


def applications_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """Application name -> status on the active cluster."""
    return {app.name: app.status for app in service_progress(obj).active.applications}


class RayServiceTrigger(KubeRayResourceTrigger):
    """
    Wait until a RayService serves: Ready, no upgrade in progress, every application RUNNING on the
    active cluster, and (when given) the generation observed, the named applications running and
    the replaced cluster retired. Progress changes (pending cluster created, applications deploying,
    traffic shifted, promoted) are logged as they happen. Fails on ``DEPLOY_FAILED``, on
    KubeRay's terminal reasons, and on an application ``UNHEALTHY`` for ``unhealthy_grace`` seconds.
    It never changes the service.

    :param generation: the ``metadata.generation`` to wait for (None: the current one).
    :param applications: application names that must be RUNNING on the active cluster.
    :param replaced_cluster: the cluster a cluster-spec change replaces; serving needs another one active.
    :param unhealthy_grace: seconds an application may stay UNHEALTHY before the wait fails.
    :param settle_seconds: once serving, read again after this long and require it still serves
        (an in-place Serve update can report RUNNING before Serve has acted on the new config).
    :param carry: small JSON data echoed in the event (the operator's state across the deferral).
    """

    event_class = ServiceEvent

    def __init__(
        self,
        *args: Any,
        generation: int | None = None,
        applications: Sequence[str] = (),
        replaced_cluster: str | None = None,
        unhealthy_grace: float = 60.0,
        settle_seconds: float = 0.0,
        carry: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.generation = generation
        self.applications = list(applications)
        self.replaced_cluster = replaced_cluster
        self.unhealthy_grace = unhealthy_grace
        self.settle_seconds = settle_seconds
        self.carry = dict(carry or {})
        self._last_progress = ""
        self._unhealthy_since: float | None = None

    def _arguments(self) -> dict[str, Any]:
        return {
            **super()._arguments(),
            "generation": self.generation,
            "applications": self.applications,
            "replaced_cluster": self.replaced_cluster,
            "unhealthy_grace": self.unhealthy_grace,
            "settle_seconds": self.settle_seconds,
            "carry": self.carry,
        }

    def event(self, outcome: Outcome, **details: Any) -> ResourceEvent:
        return super().event(outcome, carry=self.carry, **details)

    async def judge(self, hook: KubeRayAsyncHook, obj: dict[str, Any]) -> ResourceEvent | None:
        check = check_serving(
            obj, generation=self.generation, applications=self.applications, replaced_cluster=self.replaced_cluster
        )
        if check.progress != self._last_progress:
            # Only changes: the task log reads as a timeline of the rollout.
            self.log.info("RayService %s/%s: %s", self.namespace, self.name, check.progress)
            self._last_progress = check.progress
        if check.serving:
            if self.settle_seconds <= 0:
                return self.event(Outcome.SUCCEEDED, **self._details(obj))
            return await self._settled(hook)
        if check.failed:
            return await self._failure(hook, obj, check.reason, check.message)
        if not check.unhealthy:
            self._unhealthy_since = None
            return None
        now = time.monotonic()
        self._unhealthy_since = self._unhealthy_since or now
        if now - self._unhealthy_since < self.unhealthy_grace:
            return None
        return await self._failure(hook, obj, "ApplicationUnhealthy", "; ".join(check.unhealthy))

    async def _settled(self, hook: KubeRayAsyncHook) -> ResourceEvent | None:
        # Serve acts on a new config in its next control loop and KubeRay reports it at its next
        # reconcile: serving must still hold once both had the time.
        wait = self.settle_seconds
        if self.deadline is not None:
            wait = max(0.0, min(wait, self.deadline - time.time()))
        await asyncio.sleep(wait)
        obj = await hook.find_object(self.kind, self.name, self.namespace)
        if obj is None:
            return None
        check = check_serving(
            obj, generation=self.generation, applications=self.applications, replaced_cluster=self.replaced_cluster
        )
        if check.serving:
            return self.event(Outcome.SUCCEEDED, **self._details(obj))
        self.log.info("RayService %s/%s: %s", self.namespace, self.name, check.progress)
        self._last_progress = check.progress
        return None

    async def on_deadline(self, hook: KubeRayAsyncHook, obj: dict[str, Any]) -> ResourceEvent:
        check = check_serving(
            obj, generation=self.generation, applications=self.applications, replaced_cluster=self.replaced_cluster
        )
        return await self._failure(
            hook,
            obj,
            check.reason,
            f"not serving the new config by the task's deadline: {check.progress}",
            Outcome.TIMEOUT,
        )

    async def _failure(
        self, hook: KubeRayAsyncHook, obj: dict[str, Any], reason: str, message: str, outcome: Outcome = Outcome.FAILED
    ) -> ResourceEvent:
        events = await self.recent_events(hook)
        return self.event(outcome, reason=reason, message=message, events=events, **self._details(obj))

    def _details(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        progress = service_progress(obj)
        return {
            "active_cluster": progress.active.cluster_name,
            "pending_cluster": progress.pending.cluster_name,
            "applications": applications_of(obj),
            "app_messages": {a.name: a.message for a in progress.active.applications if a.message},
            "generation": (obj.get("metadata") or {}).get("generation"),
            "observed_generation": status_of(obj).get("observedGeneration"),
        }
