"""Hooks of the KubeRay provider: I/O only."""

from __future__ import annotations

from airflow_provider_kuberay._lazy import lazy_exports

_EXPORTS = {
    "RayDashboardHook": "airflow_provider_kuberay.hooks.ray_dashboard",
    "RayDashboardAsyncHook": "airflow_provider_kuberay.hooks.ray_dashboard_async",
    "KubeRayHook": "airflow_provider_kuberay.hooks.kuberay",
    "KubeRayAsyncHook": "airflow_provider_kuberay.hooks.kuberay_async",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
