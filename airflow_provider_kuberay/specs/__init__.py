"""Specs layer: pure builders and validators of RayCluster, RayJob and RayService bodies (no I/O)."""

from airflow_provider_kuberay.specs.body import API_VERSION, validate_body
from airflow_provider_kuberay.specs.cluster import (
    Autoscaling,
    ClusterSpec,
    HeadGroup,
    WorkerGroup,
    ray_cluster_body,
)
from airflow_provider_kuberay.specs.errors import SpecValidationError
from airflow_provider_kuberay.specs.job import JobSpec, ray_job_body
from airflow_provider_kuberay.specs.merge import deep_merge, load_overrides
from airflow_provider_kuberay.specs.names import MAX_NAME_LENGTH, resource_name, validate_name
from airflow_provider_kuberay.specs.pod import PodOptions
from airflow_provider_kuberay.specs.raw import normalize_body
from airflow_provider_kuberay.specs.resources import Resources
from airflow_provider_kuberay.specs.service import IncrementalUpgrade, ServiceSpec, ray_service_body

__all__ = [
    "API_VERSION",
    "MAX_NAME_LENGTH",
    "Autoscaling",
    "ClusterSpec",
    "HeadGroup",
    "IncrementalUpgrade",
    "JobSpec",
    "PodOptions",
    "Resources",
    "ServiceSpec",
    "SpecValidationError",
    "WorkerGroup",
    "deep_merge",
    "load_overrides",
    "normalize_body",
    "ray_cluster_body",
    "ray_job_body",
    "ray_service_body",
    "resource_name",
    "validate_body",
    "validate_name",
]
