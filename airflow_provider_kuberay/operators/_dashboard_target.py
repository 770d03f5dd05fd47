"""Which Ray dashboard a Jobs API task talks to: a ``ray_dashboard`` connection or a RayCluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook


@dataclass(frozen=True)
class DashboardTarget:
    """
    A dashboard named by a ``ray_dashboard`` connection (and/or URL), or by a RayCluster reached
    through a ``kuberay`` connection. Only names travel to triggers, never credentials.
    """

    ray_dashboard_conn_id: str | None = None
    dashboard_url: str | None = None
    cluster_name: str | None = None
    namespace: str | None = None
    kuberay_conn_id: str | None = None

    def sync_hook(self) -> RayDashboardHook:
        from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook

        if self.cluster_name:
            from airflow_provider_kuberay.hooks.kuberay import KubeRayHook

            endpoint = KubeRayHook(self.kuberay_conn_id).dashboard_endpoint(self.cluster_name, self.namespace)
            return RayDashboardHook(None, endpoint=endpoint)
        return RayDashboardHook(self.ray_dashboard_conn_id, dashboard_url=self.dashboard_url)

    def check(self) -> None:
        """Check the names and the connection that lead to the dashboard, without a request."""
        if self.cluster_name:
            from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
            from airflow_provider_kuberay.tasks import inputs

            inputs.resource_name(self.cluster_name, "cluster_name", "RayCluster")
            inputs.namespace(self.namespace)
            KubeRayHook(self.kuberay_conn_id).check_connection()

    def trigger_arguments(self) -> dict[str, Any]:
        if self.cluster_name:
            return {
                "cluster_name": self.cluster_name,
                "namespace": self.namespace,
                "kuberay_conn_id": self.kuberay_conn_id,
            }
        return {"ray_dashboard_conn_id": self.ray_dashboard_conn_id, "dashboard_url": self.dashboard_url}
