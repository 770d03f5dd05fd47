"""Status layer: pure interpretation of KubeRay and Ray job status documents into verdicts (no I/O)."""

from airflow_provider_kuberay.status.cluster import ClusterInfo, cluster_info, cluster_verdict
from airflow_provider_kuberay.status.job import RayJobInfo, job_info, job_verdict
from airflow_provider_kuberay.status.service import (
    ApplicationStatus,
    ServeClusterStatus,
    ServiceProgress,
    service_progress,
    service_verdict,
)
from airflow_provider_kuberay.status.verdict import Condition, Phase, Verdict

__all__ = [
    "ApplicationStatus",
    "ClusterInfo",
    "Condition",
    "Phase",
    "RayJobInfo",
    "ServeClusterStatus",
    "ServiceProgress",
    "Verdict",
    "cluster_info",
    "cluster_verdict",
    "job_info",
    "job_verdict",
    "service_progress",
    "service_verdict",
]
