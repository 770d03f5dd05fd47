"""
One table of faults, run at the HTTP boundary against the four hook flavours (Kubernetes sync and
async, Ray dashboard sync and async): sync and async twins must behave alike, case for case, and
both families must follow the one classifier (retries, Retry-After, resets, typed errors).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_kuberay.exceptions import (
    KubeRayApiError,
    KubeRayConflictError,
    KubeRayNotFoundError,
    KubeRayUnavailableError,
    RayDashboardError,
    RayJobNotFoundError,
)
from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.hooks.kuberay_async import KubeRayAsyncHook
from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
from airflow_provider_kuberay.hooks.ray_dashboard_async import RayDashboardAsyncHook
from airflow_provider_kuberay.hooks.retry import RetryPolicy
from tests.support.fake_dashboard import FakeDashboard
from tests.support.fake_kube_api import FakeKubeApi, running_fake_kube_api

# Backoff windows of a few milliseconds: a wait near half a second is the server's Retry-After.
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=2.0)
OBJECT_PATH = "/apis/ray.io/v1/namespaces/default/rayclusters/c1"
JOB_PATH = "/api/jobs/s1"
FLAVOURS = ["kube-sync", "kube-async", "dashboard-sync", "dashboard-async"]


@dataclass(frozen=True)
class Case:
    """
    A fault and what every flavour must make of it.

    :param status: the scripted answer (0: the connection is dropped).
    :param times: how many requests get it.
    :param kube: the Kubernetes hooks' error type (``None``: the call succeeds).
    :param dashboard: the dashboard hooks' error type.
    :param match: a pattern of both families' error messages.
    :param requests: requests the Kubernetes hooks send (``dashboard_requests``: the dashboard hooks, if other).
    :param retry_after: the answers' ``Retry-After``.
    :param min_seconds: the call lasts at least this long (the Retry-After was honoured).
    """

    status: int
    times: int
    kube: type[Exception] | None
    dashboard: type[Exception] | None
    match: str = ""
    requests: int = 1
    dashboard_requests: int | None = None
    retry_after: str | None = None
    min_seconds: float = 0.0


CASES = {
    "503-then-ok": Case(503, 2, None, None, requests=3),
    "429-retry-after": Case(429, 1, None, None, requests=2, retry_after="0.5", min_seconds=0.5),
    "503-retry-after-date-in-past": Case(503, 1, None, None, requests=2, retry_after="Thu, 01 Jan 2004 00:00:00 GMT"),
    "503-persists": Case(503, 10, KubeRayUnavailableError, RayDashboardError, r"HTTP 503.*after 3 attempts", 3),
    "reset-once": Case(0, 1, None, None, requests=2),
    "resets-persist": Case(0, 10, KubeRayUnavailableError, RayDashboardError, r"unreachable .*after 3 attempts", 3),
    "404": Case(404, 1, KubeRayNotFoundError, RayJobNotFoundError, "scripted failure 404"),
    "409": Case(409, 1, KubeRayConflictError, RayDashboardError, "409"),
    "403": Case(403, 1, KubeRayApiError, RayDashboardError, "HTTP 403"),
    # A 401 reloads the Kubernetes credentials once (tokens rotate); a dashboard's headers do not rotate.
    "401": Case(401, 10, KubeRayApiError, RayDashboardError, "HTTP 401", requests=2, dashboard_requests=1),
}


@pytest.fixture(scope="module")
def kube() -> Iterator[FakeKubeApi]:
    yield from running_fake_kube_api()


def _call(flavour: str, kube: FakeKubeApi, dashboard: FakeDashboard) -> Any:
    """One read through a flavour: get RayCluster c1, or the details of job s1."""
    if flavour == "kube-sync":
        return KubeRayHook(None, config_dict=kube.kubeconfig_dict(), retry_policy=FAST).get_object("RayCluster", "c1")
    if flavour == "dashboard-sync":
        return RayDashboardHook(None, dashboard_url=dashboard.url, retry_policy=FAST).get_job_info("s1")

    async def read() -> Any:
        if flavour == "kube-async":
            async with KubeRayAsyncHook(None, config_dict=kube.kubeconfig_dict(), retry_policy=FAST) as hook:
                return await hook.get_object("RayCluster", "c1")
        async with RayDashboardAsyncHook(None, dashboard_url=dashboard.url, retry_policy=FAST) as dashboard_hook:
            return await dashboard_hook.get_job_info("s1")

    return asyncio.run(read())


def _requests_seen(flavour: str, kube: FakeKubeApi, dashboard: FakeDashboard) -> int:
    if flavour.startswith("kube"):
        return len(kube.calls("GET", OBJECT_PATH))
    return dashboard.calls("GET").count(JOB_PATH)


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_every_flavour_makes_the_same_of_a_fault(
    case: Case, flavour: str, kube: FakeKubeApi, fake_dashboard: FakeDashboard
) -> None:
    kube.requests.clear()
    kube.clear_faults()
    kube.put_object("RayCluster", {"metadata": {"name": "c1"}, "spec": {}})
    fake_dashboard.add_job("s1", status="RUNNING")
    is_kube = flavour.startswith("kube")
    if is_kube:
        kube.fail_next(OBJECT_PATH, case.status, case.times, retry_after=case.retry_after)
    else:
        fake_dashboard.fail_next(JOB_PATH, case.status, case.times, retry_after=case.retry_after)
    expected = case.kube if is_kube else case.dashboard
    started = time.monotonic()
    if expected is None:
        answer = _call(flavour, kube, fake_dashboard)
        assert (answer["metadata"]["name"] if is_kube else answer["submission_id"]) in ("c1", "s1")
    else:
        with pytest.raises(expected, match=case.match) as info:
            _call(flavour, kube, fake_dashboard)
        if case.status and case.status < 500 and is_kube:
            assert not isinstance(info.value, KubeRayUnavailableError)  # an answer, not an outage
        assert getattr(info.value, "http_status", None) == (case.status or None)
    assert time.monotonic() - started >= case.min_seconds
    requests = case.requests if is_kube or case.dashboard_requests is None else case.dashboard_requests
    assert _requests_seen(flavour, kube, fake_dashboard) == requests


# -- an ApiException without an answer (status 0): the two Kubernetes clients alike -----------------
def _client_that_raises(flavour: str, reason: str, kube: FakeKubeApi) -> Callable[[], Any]:
    """A read through a Kubernetes flavour whose client raises ``ApiException(status=0, reason)`` each time."""
    if flavour == "kube-sync":
        from kubernetes.client.exceptions import ApiException

        hook = KubeRayHook(None, config_dict=kube.kubeconfig_dict(), retry_policy=FAST)

        def raising(*args: Any, **kwargs: Any) -> Any:
            raise ApiException(status=0, reason=reason)

        hook.api_client.call_api = raising  # type: ignore[method-assign]
        return lambda: hook.get_object("RayCluster", "c1")

    from kubernetes_asyncio.client.exceptions import ApiException as AsyncApiException

    async def read() -> Any:
        async with KubeRayAsyncHook(None, config_dict=kube.kubeconfig_dict(), retry_policy=FAST) as hook:

            async def raising(*args: Any, **kwargs: Any) -> Any:
                raise AsyncApiException(status=0, reason=reason)

            (await hook.api_client_async()).call_api = raising
            return await hook.get_object("RayCluster", "c1")

    return lambda: asyncio.run(read())


@pytest.mark.parametrize("flavour", ["kube-sync", "kube-async"])
def test_status_0_is_no_answer_in_both_kubernetes_flavours(flavour: str, kube: FakeKubeApi) -> None:
    read = _client_that_raises(flavour, "Cannot prepare a request message", kube)
    with pytest.raises(KubeRayUnavailableError, match=r"unreachable to get RayCluster default/c1 after 3 attempts"):
        read()
    tls = _client_that_raises(flavour, "SSLError\n[SSL: CERTIFICATE_VERIFY_FAILED]", kube)
    with pytest.raises(KubeRayApiError, match="TLS failure") as info:
        tls()
    assert not isinstance(info.value, KubeRayUnavailableError)  # a certificate does not verify better later
