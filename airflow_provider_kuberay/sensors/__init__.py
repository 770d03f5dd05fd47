"""Sensors of the KubeRay provider."""

from airflow_provider_kuberay.sensors.cluster import KubeRayClusterSensor
from airflow_provider_kuberay.sensors.job import KubeRayJobSensor

__all__ = ["KubeRayClusterSensor", "KubeRayJobSensor"]
