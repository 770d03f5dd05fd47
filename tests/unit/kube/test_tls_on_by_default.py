"""TLS verification is on unless a connection turns it off, and turning it off logs a warning."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.hooks.kuberay_async import KubeRayAsyncHook
from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
from airflow_provider_kuberay.hooks.ray_dashboard_async import RayDashboardAsyncHook
from tests.support.fake_kube_api import FakeKubeApi, running_fake_kube_api

WARNING_TEXT = "TLS certificate verification"


@pytest.fixture(scope="module")
def api() -> Iterator[FakeKubeApi]:
    yield from running_fake_kube_api(tls=True)


def _tls_warnings(capsys: pytest.CaptureFixture[str]) -> list[str]:
    # Airflow's structured logger writes to stdout: "<time> [warning  ] <message> [<logger>]".
    return [line for line in capsys.readouterr().out.splitlines() if WARNING_TEXT in line]


def _kube_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, config: dict[str, Any], **extra: Any) -> None:
    fields = {"kube_config": json.dumps(config), **extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "kuberay", "extra": fields}))


def _dash_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **extra: Any) -> None:
    conn = {"conn_type": "ray_dashboard", "host": "https://ray.test:8265", "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def test_kuberay_connection_verifies_by_default(
    api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _kube_conn(monkeypatch, "kr_tls", api.kubeconfig_dict())
    assert KubeRayHook("kr_tls").get_conn().configuration.verify_ssl is True

    async def async_verify() -> bool:
        async with KubeRayAsyncHook("kr_tls") as hook:
            return bool((await hook.api_client_async()).configuration.verify_ssl)

    assert asyncio.run(async_verify()) is True
    assert _tls_warnings(capsys) == []


@pytest.mark.parametrize(
    ("extra", "kubeconfig_skip"),
    [({"disable_verify_ssl": "true"}, False), ({}, True)],
    ids=["disable_verify_ssl", "kubeconfig-insecure-skip-tls-verify"],
)
def test_turning_kube_verification_off_warns(
    api: FakeKubeApi,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: dict[str, str],
    kubeconfig_skip: bool,
) -> None:
    config = api.kubeconfig_dict(with_ca=False)
    if kubeconfig_skip:
        config["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
    _kube_conn(monkeypatch, "kr_insecure", config, **extra)
    assert KubeRayHook("kr_insecure").get_conn().configuration.verify_ssl is False

    async def async_verify() -> bool:
        async with KubeRayAsyncHook("kr_insecure") as hook:
            return bool((await hook.api_client_async()).configuration.verify_ssl)

    assert asyncio.run(async_verify()) is False
    warnings = _tls_warnings(capsys)
    assert len(warnings) == 2, warnings
    assert all("[warning" in line and "kuberay_conn_id 'kr_insecure'" in line for line in warnings), warnings


def test_ray_dashboard_connection_verifies_by_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _dash_conn(monkeypatch, "ray_tls")
    assert RayDashboardHook("ray_tls").endpoint.verify is True
    assert asyncio.run(RayDashboardAsyncHook("ray_tls").aendpoint()).verify is True
    assert _tls_warnings(capsys) == []


def test_turning_dashboard_verification_off_warns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _dash_conn(monkeypatch, "ray_insecure", verify_ssl=False)
    assert RayDashboardHook("ray_insecure").endpoint.verify is False
    assert asyncio.run(RayDashboardAsyncHook("ray_insecure").aendpoint()).verify is False
    warnings = _tls_warnings(capsys)
    assert len(warnings) == 2, warnings
    assert all("[warning" in line and "ray_dashboard_conn_id 'ray_insecure'" in line for line in warnings), warnings
