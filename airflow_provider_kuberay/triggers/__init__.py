"""Triggers of the KubeRay provider; each waits for one concern, for operators and sensors alike."""

from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use: a task that needs one trigger should not pay for the others' clients.
_EXPORTS = {
    "RayDashboardJobTrigger": "airflow_provider_kuberay.triggers.ray_dashboard_job",
    "RayClusterReadyTrigger": "airflow_provider_kuberay.triggers.ray_cluster",
    "RayJobTrigger": "airflow_provider_kuberay.triggers.ray_job",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
