"""Hooks of the KubeRay provider: I/O only."""

from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
from airflow_provider_kuberay.hooks.ray_dashboard_async import RayDashboardAsyncHook

__all__ = ["RayDashboardAsyncHook", "RayDashboardHook"]
