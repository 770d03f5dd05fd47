"""Sensors of the KubeRay provider."""

from airflow_provider_kuberay.sensors.cluster import KubeRayClusterSensor
from airflow_provider_kuberay.sensors.job import KubeRayJobSensor
from airflow_provider_kuberay.sensors.service import KubeRayServiceSensor

__all__ = ["KubeRayClusterSensor", "KubeRayJobSensor", "KubeRayServiceSensor"]
