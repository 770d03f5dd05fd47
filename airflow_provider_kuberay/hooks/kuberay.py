"""The ``kuberay`` connection: reach a Kubernetes cluster that runs the KubeRay operator."""

from __future__ import annotations

from typing import Any

from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

DASHBOARD_ACCESS_MODES = ("auto", "proxy", "direct", "url")


class KubeRayHook(KubernetesHook):
    """
    Kubernetes access for KubeRay resources, with the credentials handling of the ``cncf.kubernetes``
    provider: in-cluster, kubeconfig path or inline kubeconfig, context, default namespace and TLS
    verification (on by default), read from a ``kuberay`` connection.

    :param kuberay_conn_id: id of a ``kuberay`` connection.
    """

    conn_name_attr = "kuberay_conn_id"
    default_conn_name = "kuberay_default"
    conn_type = "kuberay"
    hook_name = "KubeRay (Kubernetes)"

    def __init__(self, kuberay_conn_id: str | None = default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id=kuberay_conn_id, **kwargs)

    @property
    def dashboard_access(self) -> str:
        """How Ray dashboards are reached: ``auto``, ``proxy``, ``direct`` or ``url``."""
        mode = (self._get_field("dashboard_access") or "auto").strip().lower()
        if mode not in DASHBOARD_ACCESS_MODES:
            raise ValueError(
                f"connection {self.conn_id!r}: dashboard_access must be one of "
                f"{', '.join(DASHBOARD_ACCESS_MODES)}, got {mode!r}"
            )
        return mode
