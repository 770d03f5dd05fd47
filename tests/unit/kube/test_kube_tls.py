"""TLS to the API server: verified by default (sync, async, and the dashboard through the proxy)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator

import pytest

from airflow_provider_kuberay.exceptions import KubeRayApiError, KubeRayUnavailableError
from airflow_provider_kuberay.hooks import dashboard_access
from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.hooks.kuberay_async import KubeRayAsyncHook
from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
from airflow_provider_kuberay.hooks.ray_dashboard_async import RayDashboardAsyncHook
from airflow_provider_kuberay.hooks.retry import RetryPolicy
from tests.support.fake_dashboard import FakeDashboard
from tests.support.fake_kube_api import FakeKubeApi, running_fake_kube_api

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)


@pytest.fixture
def api() -> Iterator[FakeKubeApi]:
    yield from running_fake_kube_api(tls=True)


def test_verified_with_the_kubeconfig_ca(api: FakeKubeApi) -> None:
    assert api.url.startswith("https://127.0.0.1:")
    assert KubeRayHook(None, config_dict=api.kubeconfig_dict(), retry_policy=FAST).list_objects("RayJob") == []


def test_unknown_ca_is_refused_and_not_retried(api: FakeKubeApi) -> None:
    hook = KubeRayHook(None, config_dict=api.kubeconfig_dict(with_ca=False), retry_policy=FAST)
    with pytest.raises(KubeRayApiError, match="CERTIFICATE_VERIFY_FAILED") as info:
        hook.list_objects("RayJob")
    assert not isinstance(info.value, KubeRayUnavailableError)
    assert api.requests == []


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verification_can_be_disabled_explicitly(api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    config = api.kubeconfig_dict(with_ca=False)
    assert KubeRayHook(None, config_dict=config, disable_verify_ssl=True).list_objects("RayJob") == []
    extra = {"kube_config": json.dumps(config), "disable_verify_ssl": "true"}
    monkeypatch.setenv("AIRFLOW_CONN_KR_INSECURE", json.dumps({"conn_type": "kuberay", "extra": extra}))
    assert KubeRayHook("kr_insecure", retry_policy=FAST).list_objects("RayJob") == []


def test_async_verified_by_default(api: FakeKubeApi) -> None:
    async def scenario() -> None:
        async with KubeRayAsyncHook(None, config_dict=api.kubeconfig_dict(), retry_policy=FAST) as hook:
            assert await hook.list_objects("RayJob") == []
        async with KubeRayAsyncHook(None, config_dict=api.kubeconfig_dict(with_ca=False), retry_policy=FAST) as hook:
            with pytest.raises(KubeRayApiError, match="TLS failure") as info:
                await hook.list_objects("RayJob")
            assert not isinstance(info.value, KubeRayUnavailableError)
        config = api.kubeconfig_dict(with_ca=False)
        async with KubeRayAsyncHook(None, config_dict=config, disable_verify_ssl=True, retry_policy=FAST) as hook:
            assert await hook.list_objects("RayJob") == []

    asyncio.run(scenario())


def test_dashboard_through_an_https_proxy_verifies_with_the_cluster_ca(
    api: FakeKubeApi, fake_dashboard: FakeDashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard_access, "running_in_pod", lambda *a, **k: False)
    api.add_service_proxy("default", "c1-head-svc", fake_dashboard.url)
    fake_dashboard.add_job("raysubmit_1")
    endpoint = KubeRayHook(None, config_dict=api.kubeconfig_dict(), retry_policy=FAST).dashboard_endpoint("c1")
    assert endpoint.url.startswith("https://")
    assert isinstance(endpoint.verify, str)
    assert os.path.exists(endpoint.verify)  # the CA bundle the Kubernetes client verifies with
    assert [j["submission_id"] for j in RayDashboardHook(None, endpoint=endpoint).list_jobs()] == ["raysubmit_1"]

    async def scenario() -> list[str]:
        async with KubeRayAsyncHook(None, config_dict=api.kubeconfig_dict(), retry_policy=FAST) as kube:
            async_endpoint = await kube.dashboard_endpoint("c1")
        assert isinstance(async_endpoint.verify, str)
        async with RayDashboardAsyncHook(None, endpoint=async_endpoint, retry_policy=FAST) as dashboard:
            return [j["submission_id"] for j in await dashboard.list_jobs()]

    assert asyncio.run(scenario()) == ["raysubmit_1"]


def test_sync_dashboard_ca_bundle_survives_requests_ca_bundle_env(
    api: FakeKubeApi, fake_dashboard: FakeDashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setattr(dashboard_access, "running_in_pod", lambda *a, **k: False)
    api.add_service_proxy("default", "c1-head-svc", fake_dashboard.url)
    endpoint = KubeRayHook(None, config_dict=api.kubeconfig_dict(), retry_policy=FAST).dashboard_endpoint("c1")
    assert RayDashboardHook(None, endpoint=endpoint, retry_policy=RetryPolicy(attempts=1)).list_jobs() == []


# -- client certificates -------------------------------------------------------------------------
def test_client_certificate_authentication(api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard_access, "running_in_pod", lambda *a, **k: False)
    config = api.kubeconfig_dict(client_cert=True)
    hook = KubeRayHook(None, config_dict=config, retry_policy=FAST)
    assert hook.list_objects("RayJob") == []
    endpoint = hook.dashboard_endpoint("c1")
    assert endpoint.headers == {}
    assert endpoint.client_cert is not None
    assert all(os.path.exists(path) for path in endpoint.client_cert)

    async def scenario() -> tuple[str, str] | None:
        async with KubeRayAsyncHook(None, config_dict=config, retry_policy=FAST) as kube:
            assert await kube.list_objects("RayJob") == []
            return (await kube.dashboard_endpoint("c1")).client_cert

    assert asyncio.run(scenario()) is not None
    without = api.kubeconfig_dict()
    without["users"][0]["user"] = {}
    with pytest.raises(KubeRayApiError, match="HTTP 401"):
        KubeRayHook(None, config_dict=without, retry_policy=FAST).list_objects("RayJob")


def test_dashboard_through_the_proxy_with_a_client_certificate(
    api: FakeKubeApi, fake_dashboard: FakeDashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard_access, "running_in_pod", lambda *a, **k: False)
    api.add_service_proxy("default", "c1-head-svc", fake_dashboard.url)
    config = api.kubeconfig_dict(client_cert=True)
    endpoint = KubeRayHook(None, config_dict=config, retry_policy=FAST).dashboard_endpoint("c1")
    assert RayDashboardHook(None, endpoint=endpoint, retry_policy=RetryPolicy(attempts=1)).list_jobs() == []

    async def scenario() -> list[dict[str, object]]:
        async with RayDashboardAsyncHook(None, endpoint=endpoint, retry_policy=RetryPolicy(attempts=1)) as dashboard:
            return await dashboard.list_jobs()

    assert asyncio.run(scenario()) == []
