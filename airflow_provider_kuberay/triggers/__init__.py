"""Triggers of the KubeRay provider; each waits for one concern, for operators and sensors alike."""

from airflow_provider_kuberay.triggers.ray_dashboard_job import RayDashboardJobTrigger

__all__ = ["RayDashboardJobTrigger"]
