"""Specs layer: pure builders and validators of RayCluster, RayJob and RayService bodies (no I/O).

The names below are imported on first use: a module that needs only ``specs.names`` (an
operator's input checks, at DAG-parse time) does not pay for the builders.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Each public name and the module of this package that defines it.
_DEFINED_IN = {
    "API_VERSION": "body",
    "validate_body": "body",
    "Autoscaling": "cluster",
    "ClusterSpec": "cluster",
    "HeadGroup": "cluster",
    "WorkerGroup": "cluster",
    "ray_cluster_body": "cluster",
    "SpecValidationError": "errors",
    "JobSpec": "job",
    "ray_job_body": "job",
    "deep_merge": "merge",
    "load_overrides": "merge",
    "MAX_NAME_LENGTH": "names",
    "resource_name": "names",
    "validate_name": "names",
    "PodOptions": "pod",
    "normalize_body": "raw",
    "Resources": "resources",
    "IncrementalUpgrade": "service",
    "ServiceSpec": "service",
    "ray_service_body": "service",
}

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


def __getattr__(name: str) -> Any:
    module = _DEFINED_IN.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
