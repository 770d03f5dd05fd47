"""Where a Ray dashboard is and how to talk to it: URL, headers, TLS and timeouts."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_kuberay.hooks.connection_fields import as_flag

if TYPE_CHECKING:
    from airflow.sdk import Connection

CONN_TYPE = "ray_dashboard"
DEFAULT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class DashboardEndpoint:
    """
    A resolved Ray dashboard endpoint.

    :param url: base URL of the dashboard, e.g. ``http://127.0.0.1:8265`` (no trailing slash).
    :param headers: extra request headers (authentication included); never shown in ``repr``.
    :param verify: TLS verification: ``True`` (default), ``False``, or a CA bundle path.
    :param timeout: seconds allowed for one request.
    :param client_cert: ``(certificate file, key file)`` of a TLS client certificate, e.g. the
        Kubernetes credentials when the dashboard is reached through the API server's proxy.
    """

    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    verify: bool | str = True
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    client_cert: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        check_dashboard_url(self.url)
        object.__setattr__(self, "url", self.url.rstrip("/"))
        if self.timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout!r}")

    def join(self, path: str) -> str:
        """Return the absolute URL of an API path such as ``/api/jobs/``."""
        return self.url + "/" + path.lstrip("/")

    @property
    def websocket_url(self) -> str:
        """The base URL with the websocket scheme matching the HTTP one."""
        return "ws" + self.url[len("http") :]


def check_dashboard_url(url: object, field: str = "dashboard_url") -> str:
    """
    Reject anything but an http(s) URL with a host, naming the field.

    :param url: the value to check.
    :param field: the parameter or connection field it came from.
    """
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{field} must be an http(s) URL with a host, e.g. http://127.0.0.1:8265, got {url!r}")
    return str(url)


def _extra_value(extra: Mapping[str, Any], name: str) -> Any:
    # The declarative form stores plain names; older UIs stored ``extra__<type>__<name>``.
    if name in extra:
        return extra[name]
    return extra.get(f"extra__{CONN_TYPE}__{name}")


def _parse_headers(value: Any) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise ValueError(f"connection extra 'headers' must be a JSON object: {err}") from None
    if not isinstance(value, Mapping):
        raise ValueError("connection extra 'headers' must be a JSON object of header names to values")
    return {str(k): str(v) for k, v in value.items()}


def _seconds(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"connection extra 'timeout' must be a number of seconds, got {value!r}") from None


def _base_url(conn: Connection) -> str:
    host = (conn.host or "").strip()
    if not host:
        raise ValueError(f"connection {conn.conn_id!r} has no host: set the dashboard URL as its host")
    if "://" in host:
        url = host
    else:
        scheme = (conn.schema or "http").strip() or "http"
        url = f"{scheme}://{host}"
    if conn.port and urlsplit(url).port is None:
        url = f"{url.rstrip('/')}:{conn.port}"
    return check_dashboard_url(url, "host")


def endpoint_from_connection(conn: Connection) -> DashboardEndpoint:
    """
    Build a :class:`DashboardEndpoint` from a ``ray_dashboard`` connection.

    Host holds the dashboard URL (or a host name with ``schema`` and ``port``); the password,
    when set, is sent as a bearer token; extras: ``headers`` (JSON object), ``verify_ssl``
    (default true), ``ca_bundle_path`` and ``timeout`` (seconds).
    """
    extra = conn.extra_dejson or {}
    headers = _parse_headers(_extra_value(extra, "headers"))
    if conn.password:
        headers.setdefault("Authorization", f"Bearer {conn.password}")
    verify_raw = _extra_value(extra, "verify_ssl")
    verify: bool | str = as_flag(verify_raw, "verify_ssl") is not False
    ca_bundle = _extra_value(extra, "ca_bundle_path")
    if ca_bundle and verify is not False:
        if not os.path.isfile(os.path.expanduser(str(ca_bundle))):
            raise ValueError(f"connection extra 'ca_bundle_path' {str(ca_bundle)!r} is not a file on this machine")
        verify = os.path.expanduser(str(ca_bundle))
    timeout_raw = _extra_value(extra, "timeout")
    timeout = DEFAULT_TIMEOUT_SECONDS if timeout_raw in (None, "") else _seconds(timeout_raw)
    return DashboardEndpoint(url=_base_url(conn), headers=headers, verify=verify, timeout=timeout)
