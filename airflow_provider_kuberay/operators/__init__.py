"""Operators of the KubeRay provider."""

from airflow_provider_kuberay.operators.submit_job import KubeRaySubmitJobOperator

__all__ = ["KubeRaySubmitJobOperator"]
