"""Where a RayJob's links point while it runs: KubeRay names its Ray job and cluster right after creation."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_kuberay.hooks.kuberay import KubeRayHook

# KubeRay fills status.jobId and status.rayClusterName in its first reconcile, before any pod runs.
NAMING_WAIT_SECONDS = 10.0


def running_job_target(
    hook: KubeRayHook, name: str, namespace: str, dashboard_link: str | None, wait: float | None = None
) -> tuple[str, str] | None:
    """
    The dashboard URL and Ray job id of a RayJob, once KubeRay has named them (waiting up to
    ``wait`` seconds); None when they are not known by then. The URL follows ``dashboard_link``
    when set, else the connection's way to the dashboard (its URL template where one is set).
    """
    deadline = time.monotonic() + (NAMING_WAIT_SECONDS if wait is None else wait)
    while True:
        status = hook.get_object("RayJob", name, namespace).get("status") or {}
        job_id, cluster = status.get("jobId"), status.get("rayClusterName")
        if job_id and cluster:
            break
        if time.monotonic() > deadline:
            return None
        time.sleep(0.5)
    if dashboard_link:
        return dashboard_link.format(cluster=cluster, namespace=namespace), str(job_id)
    return hook.dashboard_endpoint(str(cluster), namespace).url, str(job_id)
