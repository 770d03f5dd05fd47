"""Reaching a RayCluster's dashboard in each access mode; through the API server proxy end to end."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

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
    yield from running_fake_kube_api()


@pytest.fixture
def not_in_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard_access, "running_in_pod", lambda *a, **k: False)


@pytest.fixture
def in_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard_access, "running_in_pod", lambda *a, **k: True)


def _connection(api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch, conn_id: str = "kr_dash", **extra: str) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", api.connection_json(**extra))
    return conn_id


def _cluster(api: FakeKubeApi, name: str = "c1", namespace: str = "default", service: str | None = None) -> None:
    api.put_object(
        "RayCluster", {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": name}}, namespace
    )
    if service:
        api.set_status("RayCluster", namespace, name, {"head": {"serviceName": service}})


# -- mode resolution -----------------------------------------------------------------------------
@pytest.mark.usefixtures("not_in_pod")
def test_auto_outside_a_pod_is_the_proxy(api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    _cluster(api, namespace="ml", service="c1-head-svc-x")
    hook = KubeRayHook(_connection(api, monkeypatch, namespace="ml"), retry_policy=FAST)
    endpoint = hook.dashboard_endpoint("c1")
    assert endpoint.url == f"{api.url}/api/v1/namespaces/ml/services/c1-head-svc-x:dashboard/proxy"
    assert endpoint.headers == {"Authorization": f"Bearer {api.token}"}
    assert endpoint.verify is True


@pytest.mark.usefixtures("in_pod")
def test_auto_inside_a_pod_is_service_dns(api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = KubeRayHook(_connection(api, monkeypatch), retry_policy=FAST)
    endpoint = hook.dashboard_endpoint("c1", "ml")  # no RayCluster status yet: KubeRay's naming rule
    assert endpoint.url == "http://c1-head-svc.ml.svc.cluster.local:8265"
    assert endpoint.headers == {}


@pytest.mark.usefixtures("not_in_pod")
def test_direct_mode_uses_the_head_service_status(api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    _cluster(api, service="custom-head")
    hook = KubeRayHook(_connection(api, monkeypatch, dashboard_access="direct"), retry_policy=FAST)
    assert hook.dashboard_endpoint("c1").url == "http://custom-head.default.svc.cluster.local:8265"


@pytest.mark.usefixtures("in_pod")
def test_url_mode_makes_no_api_call(api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = _connection(
        api, monkeypatch, dashboard_access="url", dashboard_url="https://ray.example/{namespace}/{cluster}/"
    )
    endpoint = KubeRayHook(conn_id, retry_policy=FAST).dashboard_endpoint("c1", "ml")
    assert endpoint.url == "https://ray.example/ml/c1"
    assert api.requests == []


def test_url_mode_without_url(api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = KubeRayHook(_connection(api, monkeypatch, dashboard_access="url"))
    with pytest.raises(ValueError, match="dashboard_url is empty"):
        hook.dashboard_endpoint("c1")


def test_bad_mode_is_named(api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = KubeRayHook(_connection(api, monkeypatch, dashboard_access="nodeport"))
    with pytest.raises(ValueError, match="'nodeport'"):
        hook.dashboard_endpoint("c1")
    assert api.requests == []


@pytest.mark.usefixtures("not_in_pod")
def test_async_endpoint_in_each_mode(api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    _cluster(api, namespace="ml", service="svc-a")
    proxy_id = _connection(api, monkeypatch, "kr_a_proxy", namespace="ml")
    direct_id = _connection(api, monkeypatch, "kr_a_direct", namespace="ml", dashboard_access="direct")
    url_id = _connection(api, monkeypatch, "kr_a_url", dashboard_access="url", dashboard_url="http://{cluster}:8265")

    async def scenario() -> list[str]:
        urls = []
        for conn_id in (proxy_id, direct_id, url_id):
            async with KubeRayAsyncHook(conn_id, retry_policy=FAST) as hook:
                urls.append((await hook.dashboard_endpoint("c1")).url)
        return urls

    assert asyncio.run(scenario()) == [
        f"{api.url}/api/v1/namespaces/ml/services/svc-a:dashboard/proxy",
        "http://svc-a.ml.svc.cluster.local:8265",
        "http://c1:8265",
    ]


# -- through the API server proxy, for real ------------------------------------------------------
@pytest.fixture
def proxied(api: FakeKubeApi, fake_dashboard: FakeDashboard, monkeypatch: pytest.MonkeyPatch) -> str:
    _cluster(api)
    api.add_service_proxy("default", "c1-head-svc", fake_dashboard.url)
    fake_dashboard.add_job("raysubmit_1", status="RUNNING", logs="hello\n")
    fake_dashboard.log_chunks["raysubmit_1"] = ["hello\n", "world\n"]
    return _connection(api, monkeypatch, "kr_proxy", dashboard_access="proxy")


def test_sync_dashboard_hook_through_the_proxy(api: FakeKubeApi, fake_dashboard: FakeDashboard, proxied: str) -> None:
    endpoint = KubeRayHook(proxied, retry_policy=FAST).dashboard_endpoint("c1")
    dashboard = RayDashboardHook(None, endpoint=endpoint, retry_policy=FAST)
    assert [job["submission_id"] for job in dashboard.list_jobs()] == ["raysubmit_1"]
    assert dashboard.stop_job("raysubmit_1") is True  # a POST through the proxy
    assert "".join(dashboard.tail_job_logs("raysubmit_1")) == "hello\nworld\n"  # websocket through the proxy
    proxied_calls = api.calls(path_prefix="/api/v1/namespaces/default/services/c1-head-svc:dashboard/proxy/")
    assert [(m, p.rsplit("/proxy", 1)[1]) for m, p, _ in proxied_calls] == [
        ("GET", "/api/jobs/"),
        ("POST", "/api/jobs/raysubmit_1/stop"),
        ("GET", "/api/jobs/raysubmit_1/logs/tail"),
    ]
    assert ("POST", "/api/jobs/raysubmit_1/stop") in fake_dashboard.requests


def test_async_dashboard_hook_through_the_proxy(api: FakeKubeApi, fake_dashboard: FakeDashboard, proxied: str) -> None:
    async def scenario() -> tuple[list[str], str]:
        async with KubeRayAsyncHook(proxied, retry_policy=FAST) as kube:
            endpoint = await kube.dashboard_endpoint("c1")
        async with RayDashboardAsyncHook(None, endpoint=endpoint, retry_policy=FAST) as dashboard:
            jobs = [job["submission_id"] for job in await dashboard.list_jobs()]
            log = "".join([chunk async for chunk in dashboard.tail_job_logs("raysubmit_1")])
        return jobs, log

    assert asyncio.run(scenario()) == (["raysubmit_1"], "hello\nworld\n")


def test_proxy_refuses_without_the_token(api: FakeKubeApi, fake_dashboard: FakeDashboard, proxied: str) -> None:
    from airflow_provider_kuberay.exceptions import RayDashboardError
    from airflow_provider_kuberay.hooks.dashboard_endpoint import DashboardEndpoint

    endpoint = KubeRayHook(proxied, retry_policy=FAST).dashboard_endpoint("c1")
    anonymous = DashboardEndpoint(url=endpoint.url)
    with pytest.raises(RayDashboardError, match="401"):
        RayDashboardHook(None, endpoint=anonymous, retry_policy=FAST).list_jobs()


@pytest.mark.usefixtures("not_in_pod")
def test_token_masked_and_out_of_repr(
    api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    masked: list[str] = []
    import airflow.sdk.log

    monkeypatch.setattr(airflow.sdk.log, "mask_secret", lambda value, *a, **k: masked.append(value))
    caplog.set_level(logging.DEBUG)
    endpoint = KubeRayHook(_connection(api, monkeypatch), retry_policy=FAST).dashboard_endpoint("c1")
    assert api.token in masked
    assert api.token not in repr(endpoint)
    assert api.token not in caplog.text
