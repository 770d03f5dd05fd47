"""The ray_dashboard connection becomes an endpoint: URL, token, headers, TLS, timeout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow.models.connection import Connection

from airflow_provider_kuberay.hooks.dashboard_endpoint import DashboardEndpoint, endpoint_from_connection


def _conn(**kwargs: object) -> Connection:
    extra = kwargs.pop("extra", None)
    return Connection(conn_id="ray", conn_type="ray_dashboard", extra=json.dumps(extra) if extra else None, **kwargs)


def test_full_url_in_host() -> None:
    endpoint = endpoint_from_connection(_conn(host="https://ray.example.test:8443/"))
    assert endpoint.url == "https://ray.example.test:8443"
    assert endpoint.verify is True  # TLS verification is on unless switched off
    assert endpoint.headers == {}


def test_host_schema_and_port() -> None:
    endpoint = endpoint_from_connection(_conn(host="127.0.0.1", port=8265))
    assert endpoint.url == "http://127.0.0.1:8265"
    assert endpoint.join("/api/jobs/") == "http://127.0.0.1:8265/api/jobs/"
    assert endpoint.websocket_url == "ws://127.0.0.1:8265"


def test_token_headers_tls_and_timeout_from_extras(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    endpoint = endpoint_from_connection(
        _conn(
            host="https://ray.test",
            password="s3cret",
            extra={"headers": {"X-Team": "ml"}, "ca_bundle_path": str(ca), "timeout": "12"},
        )
    )
    assert endpoint.headers == {"X-Team": "ml", "Authorization": "Bearer s3cret"}
    assert endpoint.verify == str(ca)
    assert endpoint.timeout == 12.0
    assert "s3cret" not in repr(endpoint)


def test_prefixed_extras_of_older_forms_are_read() -> None:
    endpoint = endpoint_from_connection(
        _conn(host="https://ray.test", extra={"extra__ray_dashboard__verify_ssl": "false"})
    )
    assert endpoint.verify is False


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"host": ""}, "host"),
        ({"host": "ftp://ray.test"}, "host must be an http"),
        ({"host": "http://ray.test", "extra": {"headers": "[1, 2]"}}, "headers"),
        ({"host": "http://ray.test", "extra": {"headers": "{not json"}}, "headers"),
        ({"host": "http://ray.test", "extra": {"verify_ssl": "maybe"}}, "verify_ssl"),
        ({"host": "http://ray.test", "extra": {"timeout": "0"}}, "timeout"),
    ],
)
def test_bad_connections_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        endpoint_from_connection(_conn(**kwargs))


def test_endpoint_rejects_non_http_url() -> None:
    with pytest.raises(ValueError, match="http"):
        DashboardEndpoint(url="127.0.0.1:8265")
