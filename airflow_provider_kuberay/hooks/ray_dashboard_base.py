"""What the sync and async Ray dashboard hooks share: the connection and how it becomes an endpoint."""

from __future__ import annotations

from typing import Any

from airflow.exceptions import AirflowNotFoundException
from airflow.sdk import BaseHook

from airflow_provider_kuberay.hooks.connection_errors import named_connection_errors
from airflow_provider_kuberay.hooks.connection_fields import tls_off_warning
from airflow_provider_kuberay.hooks.dashboard_endpoint import (
    CONN_TYPE,
    DashboardEndpoint,
    check_dashboard_url,
    endpoint_from_connection,
)
from airflow_provider_kuberay.hooks.retry import RetryPolicy


def _mask_header_values(endpoint: DashboardEndpoint) -> None:
    # Headers usually carry credentials: keep their values out of every log line.
    from airflow.sdk.log import mask_secret

    for value in endpoint.headers.values():
        mask_secret(value)


class RayDashboardHookBase(BaseHook):
    """
    Connection handling shared by :class:`RayDashboardHook` and :class:`RayDashboardAsyncHook`.

    :param ray_dashboard_conn_id: id of a ``ray_dashboard`` connection.
    :param dashboard_url: a dashboard URL to use instead of the connection's host (the connection,
        if it exists, still supplies headers and TLS settings).
    :param endpoint: a fully resolved endpoint; when given, no connection is read.
    :param retry_policy: retries for connection errors, 429 and 5xx answers.
    """

    conn_name_attr = "ray_dashboard_conn_id"
    default_conn_name = "ray_dashboard_default"
    conn_type = CONN_TYPE
    hook_name = "Ray Dashboard"

    def __init__(
        self,
        ray_dashboard_conn_id: str | None = default_conn_name,
        *,
        dashboard_url: str | None = None,
        endpoint: DashboardEndpoint | None = None,
        retry_policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ray_dashboard_conn_id = ray_dashboard_conn_id
        self.dashboard_url = dashboard_url
        self.retry_policy = retry_policy or RetryPolicy()
        self._endpoint = endpoint

    def _endpoint_from(self, conn: Any | None) -> DashboardEndpoint:
        if self.dashboard_url:
            check_dashboard_url(self.dashboard_url)
        if conn is None:
            if not self.dashboard_url:
                raise ValueError("a dashboard_url is needed when no ray_dashboard connection is given")
            endpoint = DashboardEndpoint(url=self.dashboard_url)
        else:
            with named_connection_errors("ray_dashboard_conn_id", conn.conn_id):
                endpoint = endpoint_from_connection(conn)
            if endpoint.verify is False:
                tls_off_warning(self.log, "ray_dashboard_conn_id", conn.conn_id, "the Ray dashboard")
            if self.dashboard_url:
                endpoint = DashboardEndpoint(
                    url=self.dashboard_url,
                    headers=endpoint.headers,
                    verify=endpoint.verify,
                    timeout=endpoint.timeout,
                )
        _mask_header_values(endpoint)
        return endpoint

    @property
    def endpoint_url(self) -> str | None:
        """The dashboard's URL once resolved (for error messages), else ``None``."""
        return self._endpoint.url if self._endpoint is not None else None

    @property
    def endpoint(self) -> DashboardEndpoint:
        """The resolved endpoint (reads the connection on first use; sync)."""
        if self._endpoint is None:
            conn = None
            if self.ray_dashboard_conn_id:
                try:
                    conn = self.get_connection(self.ray_dashboard_conn_id)
                except AirflowNotFoundException:
                    if not self.dashboard_url:
                        raise
            self._endpoint = self._endpoint_from(conn)
        return self._endpoint

    async def aendpoint(self) -> DashboardEndpoint:
        """The resolved endpoint, reading the connection without blocking the event loop."""
        if self._endpoint is None:
            conn = None
            if self.ray_dashboard_conn_id:
                try:
                    conn = await self.aget_connection(self.ray_dashboard_conn_id)
                except AirflowNotFoundException:
                    # A bare dashboard_url is enough, e.g. for a local head.
                    if not self.dashboard_url:
                        raise
            self._endpoint = self._endpoint_from(conn)
        return self._endpoint
