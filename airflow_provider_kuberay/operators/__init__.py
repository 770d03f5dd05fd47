"""Operators of the KubeRay provider."""

from airflow_provider_kuberay.operators.cluster import KubeRayCreateClusterOperator, KubeRayDeleteClusterOperator
from airflow_provider_kuberay.operators.expired_clusters import KubeRayDeleteExpiredClustersOperator
from airflow_provider_kuberay.operators.run_job import KubeRayRunJobOperator
from airflow_provider_kuberay.operators.service import KubeRayDeleteServiceOperator, KubeRayDeployServiceOperator
from airflow_provider_kuberay.operators.stop_job import KubeRayStopJobOperator
from airflow_provider_kuberay.operators.submit_job import KubeRaySubmitJobOperator

__all__ = [
    "KubeRayCreateClusterOperator",
    "KubeRayDeleteClusterOperator",
    "KubeRayDeleteExpiredClustersOperator",
    "KubeRayDeleteServiceOperator",
    "KubeRayDeployServiceOperator",
    "KubeRayRunJobOperator",
    "KubeRayStopJobOperator",
    "KubeRaySubmitJobOperator",
]
