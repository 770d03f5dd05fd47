"""RayService status -> verdict (serving, upgrading, pending, failed), plus upgrade progress."""

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
    status_of,
    text,
)

READY = "Ready"
UPGRADE_IN_PROGRESS = "UpgradeInProgress"
ROLLBACK_IN_PROGRESS = "RollbackInProgress"
SUSPENDING = "Suspending"
SUSPENDED = "Suspended"
# Ready=False reasons after which KubeRay stops trying until the spec changes.
TERMINAL_REASONS = ("ValidationFailed", "InitializingTimeout")
# Ray Serve application statuses.
APP_RUNNING = "RUNNING"
APP_DEPLOY_FAILED = "DEPLOY_FAILED"
APPLICATION_STATUSES = ("NOT_STARTED", "DEPLOYING", "RUNNING", "DEPLOY_FAILED", "DELETING", "UNHEALTHY")


@dataclass(frozen=True)
class ApplicationStatus:
    """
    One Serve application on one cluster.

    :param name: the application name.
    :param status: its Serve status (``RUNNING``, ``DEPLOYING``, ``DEPLOY_FAILED``...).
    :param message: Serve's message (the error for a failed deploy).
    :param deployments: deployment name -> deployment status (``HEALTHY``, ``UPDATING``...).
    """

    name: str
    status: str
    message: str = ""
    deployments: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServeClusterStatus:
    """
    The Serve side of one of a RayService's clusters (active or pending).

    :param cluster_name: the RayCluster's name ("" when there is none).
    :param applications: the applications on it.
    :param traffic_routed_percent: traffic it receives (incremental upgrades), if reported.
    :param target_capacity: its Serve target capacity (incremental upgrades), if reported.
    """

    cluster_name: str = ""
    applications: tuple[ApplicationStatus, ...] = ()
    traffic_routed_percent: int | None = None
    target_capacity: int | None = None

    @property
    def exists(self) -> bool:
        """True when the RayService has a cluster in this slot."""
        return bool(self.cluster_name)

    @property
    def all_running(self) -> bool:
        """True when there is at least one application and every one is RUNNING."""
        return bool(self.applications) and all(app.status == APP_RUNNING for app in self.applications)

    def not_running(self) -> list[ApplicationStatus]:
        """Return the applications that are not RUNNING."""
        return [app for app in self.applications if app.status != APP_RUNNING]


@dataclass(frozen=True)
class ServiceProgress:
    """
    A RayService's clusters, for reporting upgrade progress.

    :param active: the cluster serving traffic.
    :param pending: the cluster being brought up by an upgrade (``exists`` is False otherwise).
    :param num_serve_endpoints: pods ready to serve.
    """

    active: ServeClusterStatus
    pending: ServeClusterStatus
    num_serve_endpoints: int = 0


def service_progress(obj: Mapping[str, Any] | None) -> ServiceProgress:
    """
    Extract the active and pending cluster statuses of a RayService.

    :param obj: the RayService as returned by the API.
    """
    status = status_of(obj)
    endpoints = status.get("numServeEndpoints")
    return ServiceProgress(
        active=_serve_cluster(status.get("activeServiceStatus")),
        pending=_serve_cluster(status.get("pendingServiceStatus")),
        num_serve_endpoints=endpoints if isinstance(endpoints, int) else 0,
    )


def _serve_cluster(raw: object) -> ServeClusterStatus:
    if not isinstance(raw, Mapping):
        return ServeClusterStatus()
    apps_raw = raw.get("applicationStatuses")
    apps: list[ApplicationStatus] = []
    if isinstance(apps_raw, Mapping):
        for name, app in sorted(apps_raw.items()):
            app = app if isinstance(app, Mapping) else {}
            deployments_raw = app.get("serveDeploymentStatuses")
            deployments = {
                str(dep): text(info, "status")
                for dep, info in (deployments_raw.items() if isinstance(deployments_raw, Mapping) else [])
                if isinstance(info, Mapping)
            }
            apps.append(ApplicationStatus(str(name), text(app, "status"), text(app, "message"), deployments))
    traffic = raw.get("trafficRoutedPercent")
    capacity = raw.get("targetCapacity")
    return ServeClusterStatus(
        cluster_name=text(raw, "rayClusterName"),
        applications=tuple(apps),
        traffic_routed_percent=traffic if isinstance(traffic, int) else None,
        target_capacity=capacity if isinstance(capacity, int) else None,
    )


def service_verdict(obj: Mapping[str, Any] | None) -> Verdict:
    """
    Interpret a RayService.

    SERVING only when ``Ready`` is true, no upgrade (or rollback) is in progress, no pending
    cluster exists beside the active one, the status is for the current spec, and every
    application of the active cluster is RUNNING. A first deployment (a pending cluster and no
    active one yet) is PENDING, not UPGRADING. ``Ready=False`` with reason ``ValidationFailed``
    or ``InitializingTimeout`` and any application in ``DEPLOY_FAILED`` are terminal failures.
    Without conditions (KubeRay < 1.3) the deprecated ``serviceStatus`` (``Running``) stands in
    for ``Ready``.

    :param obj: the RayService as returned by the API.
    """
    status = status_of(obj)
    if not status:
        return Verdict(Phase.PENDING, "NoStatus", "the KubeRay operator has not reported on this service yet")
    found = conditions(status)
    progress = service_progress(obj)
    ready_condition = found.get(READY)
    if ready_condition is not None and ready_condition.status is False and ready_condition.reason in TERMINAL_REASONS:
        # Checked before the generation: a validation failure does not update observedGeneration.
        return Verdict(Phase.FAILED, ready_condition.reason, ready_condition.message)
    for kind in (SUSPENDED, SUSPENDING):
        if is_true(found, kind):
            return Verdict(Phase.SUSPENDED, kind, found[kind].message)
    failed = _deploy_failures(progress)
    if failed:
        return Verdict(Phase.FAILED, "ApplicationDeployFailed", failed)

    ready = is_true(found, READY) if ready_condition is not None else text(status, "serviceStatus") == "Running"
    if generation_lag(obj):
        phase = Phase.UPGRADING if ready else Phase.PENDING
        return Verdict(phase, "SpecChangeNotObserved", "the operator has not reconciled the latest spec yet")
    for kind in (UPGRADE_IN_PROGRESS, ROLLBACK_IN_PROGRESS):
        if is_true(found, kind):
            return Verdict(Phase.UPGRADING, found[kind].reason or kind, _upgrade_message(found[kind].message, progress))
    if progress.pending.exists and progress.active.exists:
        return Verdict(Phase.UPGRADING, "PendingClusterExists", _upgrade_message("", progress))
    if not ready:
        if ready_condition is not None:
            return Verdict(Phase.PENDING, ready_condition.reason or "NotReady", ready_condition.message)
        return Verdict(Phase.PENDING, text(status, "serviceStatus") or "NotReady", "")
    if not progress.active.all_running:
        waiting = progress.active.not_running()
        detail = ", ".join(f"{app.name}={app.status}" for app in waiting) or "no applications reported"
        return Verdict(Phase.PENDING, "ApplicationsNotRunning", detail)
    return Verdict(Phase.SERVING, ready_condition.reason if ready_condition else "Running", "all applications RUNNING")


def _deploy_failures(progress: ServiceProgress) -> str:
    failures = []
    for slot, cluster in (("active", progress.active), ("pending", progress.pending)):
        for app in cluster.applications:
            if app.status == APP_DEPLOY_FAILED:
                where = f"{slot} cluster {cluster.cluster_name or '?'}"
                failures.append(f"{where} app {app.name}: {app.message or 'DEPLOY_FAILED'}")
    return "; ".join(failures)


def _upgrade_message(message: str, progress: ServiceProgress) -> str:
    parts = [message] if message else []
    pending = progress.pending
    if pending.exists:
        apps = ", ".join(f"{a.name}={a.status}" for a in pending.applications) or "no applications yet"
        parts.append(f"pending cluster {pending.cluster_name}: {apps}")
    for slot, cluster in (("active", progress.active), ("pending", pending)):
        if cluster.traffic_routed_percent is not None:
            parts.append(f"{slot} traffic {cluster.traffic_routed_percent}%")
    return "; ".join(parts)
