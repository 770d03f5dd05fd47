"""Triggers of the KubeRay provider; each waits for one concern, for operators and sensors alike."""

from __future__ import annotations

from airflow_provider_kuberay._lazy import lazy_exports

_EXPORTS = {
    "RayDashboardJobTrigger": "airflow_provider_kuberay.triggers.ray_dashboard_job",
    "RayClusterReadyTrigger": "airflow_provider_kuberay.triggers.ray_cluster",
    "RayJobTrigger": "airflow_provider_kuberay.triggers.ray_job",
    "RayServiceTrigger": "airflow_provider_kuberay.triggers.ray_service",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
