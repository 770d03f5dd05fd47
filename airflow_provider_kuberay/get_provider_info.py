"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_kuberay import __version__

# Repeated from the hook on purpose: reading provider info must not import Kubernetes clients.
DASHBOARD_ACCESS_MODES = ("auto", "proxy", "direct", "url")

_BOOL = {"type": ["boolean", "null"]}
_TEXT = {"type": ["string", "null"]}


def _ray_dashboard_connection() -> dict[str, Any]:
    return {
        "connection-type": "ray_dashboard",
        "hook-class-name": "airflow_provider_kuberay.hooks.ray_dashboard.RayDashboardHook",
        "hook-name": "Ray Dashboard",
        "ui-field-behaviour": {
            "hidden-fields": ["login", "schema", "port"],
            "relabeling": {"host": "Dashboard URL", "password": "Bearer token"},
            "placeholders": {
                "host": "http://127.0.0.1:8265",
                "password": "token sent as 'Authorization: Bearer ...' (optional)",
            },
        },
        "conn-fields": {
            "headers": {
                "label": "Extra headers",
                "description": "JSON object of HTTP headers sent with every request (values are masked in logs).",
                "schema": {"type": ["object", "null"], "format": "json"},
            },
            "verify_ssl": {
                "label": "Verify TLS certificates",
                "description": "Verify the dashboard's TLS certificate (on by default).",
                "schema": {**_BOOL, "default": True},
            },
            "ca_bundle_path": {
                "label": "CA bundle path",
                "description": "Path to a CA bundle used to verify the dashboard's certificate.",
                "schema": _TEXT,
            },
            "timeout": {
                "label": "Request timeout (seconds)",
                "description": "Seconds allowed for one request to the dashboard.",
                "schema": {"type": ["number", "null"], "default": 30, "minimum": 1},
            },
        },
    }


def _kuberay_connection() -> dict[str, Any]:
    return {
        "connection-type": "kuberay",
        "hook-class-name": "airflow_provider_kuberay.hooks.kuberay.KubeRayHook",
        "hook-name": "KubeRay (Kubernetes)",
        "ui-field-behaviour": {
            "hidden-fields": ["host", "schema", "login", "password", "port", "extra"],
            "relabeling": {},
            "placeholders": {},
        },
        "conn-fields": {
            "in_cluster": {
                "label": "In cluster configuration",
                "description": "Use the service account of the pod Airflow runs in.",
                "schema": {**_BOOL, "default": False},
            },
            "kube_config_path": {
                "label": "Kube config path",
                "description": "Path to a kubeconfig file on the Airflow workers and triggerer.",
                "schema": _TEXT,
            },
            "kube_config": {
                "label": "Kube config (JSON or YAML text)",
                "description": "Inline kubeconfig; it is never written to disk in clear.",
                "schema": {"type": ["string", "null"], "format": "password"},
            },
            "cluster_context": {
                "label": "Cluster context",
                "description": "Kubeconfig context to use (default: the current context).",
                "schema": _TEXT,
            },
            "namespace": {
                "label": "Default namespace",
                "description": "Namespace of RayClusters, RayJobs and RayServices unless a task says otherwise.",
                "schema": _TEXT,
            },
            "disable_verify_ssl": {
                "label": "Disable TLS verification",
                "description": "Skip verifying the API server's certificate (verification is on by default).",
                "schema": {**_BOOL, "default": False},
            },
            "dashboard_access": {
                "label": "Ray dashboard access",
                "description": "How to reach Ray dashboards: auto (service DNS in a pod, else the API server "
                "proxy), proxy, direct (service DNS), or url (the explicit URL below).",
                "schema": {
                    "type": ["string", "null"],
                    "enum": [*DASHBOARD_ACCESS_MODES, None],
                    "default": "auto",
                },
            },
            "dashboard_url": {
                "label": "Ray dashboard URL",
                "description": "Explicit dashboard URL when access is 'url'.",
                "schema": _TEXT,
            },
        },
    }


def get_provider_info() -> dict[str, Any]:
    """Describe the provider: what it registers with Airflow."""
    return {
        "package-name": "airflow-provider-kuberay",
        "name": "KubeRay",
        "description": "Run Ray on Kubernetes through KubeRay: RayClusters, RayJobs, RayServices, Ray Jobs API.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "KubeRay",
                "external-doc-url": "https://docs.ray.io/en/latest/cluster/kubernetes/index.html",
                "tags": ["software"],
            }
        ],
        "operators": [
            {
                "integration-name": "KubeRay",
                "python-modules": [
                    "airflow_provider_kuberay.operators.submit_job",
                    "airflow_provider_kuberay.operators.stop_job",
                    "airflow_provider_kuberay.operators.run_job",
                    "airflow_provider_kuberay.operators.cluster",
                    "airflow_provider_kuberay.operators.expired_clusters",
                    "airflow_provider_kuberay.operators.service",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "KubeRay",
                "python-modules": [
                    "airflow_provider_kuberay.sensors.job",
                    "airflow_provider_kuberay.sensors.cluster",
                    "airflow_provider_kuberay.sensors.service",
                ],
            }
        ],
        "hooks": [
            {
                "integration-name": "KubeRay",
                "python-modules": [
                    "airflow_provider_kuberay.hooks.ray_dashboard",
                    "airflow_provider_kuberay.hooks.ray_dashboard_async",
                    "airflow_provider_kuberay.hooks.kuberay",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": "KubeRay",
                "python-modules": [
                    "airflow_provider_kuberay.triggers.ray_dashboard_job",
                    "airflow_provider_kuberay.triggers.ray_cluster",
                    "airflow_provider_kuberay.triggers.ray_job",
                    "airflow_provider_kuberay.triggers.ray_service",
                ],
            }
        ],
        "connection-types": [_ray_dashboard_connection(), _kuberay_connection()],
        "extra-links": [
            "airflow_provider_kuberay.links.RayJobDashboardLink",
            "airflow_provider_kuberay.links.RayClusterDashboardLink",
            "airflow_provider_kuberay.links.RayServeDashboardLink",
        ],
        "task-decorators": [
            {"name": "kuberay", "class-name": "airflow_provider_kuberay.decorators.kuberay.kuberay_task"},
            {"name": "ray", "class-name": "airflow_provider_kuberay.decorators.ray.ray_task"},
        ],
    }
