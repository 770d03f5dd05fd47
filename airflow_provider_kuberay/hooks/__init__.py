"""Hooks of the KubeRay provider: I/O only."""

from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use: importing one hook should not import every client library.
_EXPORTS = {
    "RayDashboardHook": "airflow_provider_kuberay.hooks.ray_dashboard",
    "RayDashboardAsyncHook": "airflow_provider_kuberay.hooks.ray_dashboard_async",
    "KubeRayHook": "airflow_provider_kuberay.hooks.kuberay",
    "KubeRayAsyncHook": "airflow_provider_kuberay.hooks.kuberay_async",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
