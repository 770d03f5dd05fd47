"""Retry-After on 429/503, bounded attempts and jittered waits, at the HTTP boundary (sync and async hooks)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from airflow_provider_kuberay.exceptions import KubeRayUnavailableError
from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.hooks.kuberay_async import KubeRayAsyncHook
from airflow_provider_kuberay.hooks.retry import RetryPolicy, retry_after_seconds
from tests.support.fake_kube_api import FakeKubeApi, running_fake_kube_api

# Backoff windows of a few milliseconds: any wait near a second is the server's Retry-After.
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=2.0)
CLUSTERS = "/apis/ray.io/v1/namespaces/default/rayclusters"


@pytest.fixture
def api() -> Iterator[FakeKubeApi]:
    yield from running_fake_kube_api()


def _timed(fn: object) -> float:
    start = time.monotonic()
    fn()  # type: ignore[operator]
    return time.monotonic() - start


# -- the header and the policy -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", 1.0), (" 2 ", 2.0), ("0.5", 0.5), ("0", 0.0), ("-3", 0.0), (None, None), ("", None), ("soon", None)],
)
def test_retry_after_delta_seconds(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value) == expected


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_retry_after_not_a_finite_number_is_ignored(value: str) -> None:
    assert retry_after_seconds(value) is None


def test_retry_after_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=7), usegmt=True), now) == 7.0
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=7), usegmt=True), now) == 0.0


def test_delay_honours_retry_after_capped_and_jittered() -> None:
    policy = RetryPolicy(attempts=5, base_delay=0.5, max_delay=4.0)
    waits = {policy.delay(1, 2.0) for _ in range(50)}
    assert all(2.0 <= w <= 2.5 for w in waits)
    assert len(waits) > 1  # clients told the same moment do not all return together
    assert all(4.0 <= policy.delay(1, 3600.0) <= 4.5 for _ in range(20))  # a bad header is capped
    assert all(0 <= policy.delay(3, None) <= 2.0 for _ in range(20))  # no header: the backoff window


def test_backoff_windows_grow_are_capped_and_jittered() -> None:
    policy = RetryPolicy(attempts=6, base_delay=0.5, max_delay=4.0)
    for attempt, window in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0)]:
        waits = [policy.backoff(attempt) for _ in range(200)]
        assert all(0 <= w <= window for w in waits)
        assert max(waits) > window / 2  # spread over the window
        assert min(waits) < window / 2


# -- sync hook -----------------------------------------------------------------------------------
def test_sync_429_waits_the_retry_after(api: FakeKubeApi) -> None:
    hook = KubeRayHook(None, config_dict=api.kubeconfig_dict(), retry_policy=FAST)
    api.fail_next(CLUSTERS, 429, retry_after="1")
    elapsed = _timed(lambda: hook.list_objects("RayCluster"))
    assert 1.0 <= elapsed < 1.8
    assert len(api.calls("GET", CLUSTERS)) == 2


def test_sync_huge_retry_after_is_capped(api: FakeKubeApi) -> None:
    hook = KubeRayHook(None, config_dict=api.kubeconfig_dict(), retry_policy=RetryPolicy(3, 0.01, 0.3))
    api.fail_next(CLUSTERS, 503, retry_after="86400")
    assert _timed(lambda: hook.list_objects("RayCluster")) < 1.5


def test_sync_persistent_429_gives_up_with_status_reason_and_attempts(api: FakeKubeApi) -> None:
    hook = KubeRayHook(None, config_dict=api.kubeconfig_dict(), retry_policy=RetryPolicy(3, 0.01, 0.2))
    api.fail_next(CLUSTERS, 429, times=10, retry_after="1")
    with pytest.raises(KubeRayUnavailableError) as info:
        hook.list_objects("RayCluster")
    assert "HTTP 429 TooManyRequests: scripted failure 429 (gave up after 3 attempts)" in str(info.value)
    assert info.value.retry_after == 1.0
    assert len(api.calls("GET", CLUSTERS)) == 3


def test_sync_dropped_connections_cost_one_attempt_each(api: FakeKubeApi) -> None:
    # urllib3's own retries (3 more, at once, no backoff) must not hide inside each attempt.
    hook = KubeRayHook(None, config_dict=api.kubeconfig_dict(), retry_policy=FAST)
    api.fail_next(CLUSTERS, 0, times=10)
    with pytest.raises(KubeRayUnavailableError, match="after 3 attempts"):
        hook.list_objects("RayCluster")
    assert len(api.calls("GET", CLUSTERS)) == FAST.attempts


# -- async hook ----------------------------------------------------------------------------------
def test_async_429_waits_the_retry_after(api: FakeKubeApi) -> None:
    async def scenario() -> float:
        async with KubeRayAsyncHook(None, config_dict=api.kubeconfig_dict(), retry_policy=FAST) as hook:
            await hook.list_objects("RayCluster")  # the client is built before timing
            api.fail_next(CLUSTERS, 429, retry_after="1")
            start = time.monotonic()
            await hook.list_objects("RayCluster")
            return time.monotonic() - start

    assert 1.0 <= asyncio.run(scenario()) < 1.8


def test_async_persistent_503_gives_up_naming_status_and_attempts(api: FakeKubeApi) -> None:
    async def scenario() -> None:
        async with KubeRayAsyncHook(None, config_dict=api.kubeconfig_dict(), retry_policy=FAST) as hook:
            api.fail_next(CLUSTERS, 503, times=10, retry_after="0")
            with pytest.raises(KubeRayUnavailableError, match=r"HTTP 503 InternalError: .*gave up after 3 attempts"):
                await hook.get_object("RayCluster", "c1")

    asyncio.run(scenario())
    assert len(api.calls("GET", CLUSTERS + "/c1")) == FAST.attempts


def test_watch_honours_retry_after_between_its_own_attempts(api: FakeKubeApi) -> None:
    api.put_object("RayCluster", {"metadata": {"name": "c1"}, "spec": {}})

    async def scenario() -> float:
        async with KubeRayAsyncHook(None, config_dict=api.kubeconfig_dict(), retry_policy=FAST) as hook:
            await hook.list_objects("RayCluster")
            api.fail_next(CLUSTERS, 429, retry_after="1")  # the watch's first list
            start = time.monotonic()
            events = hook.watch_objects("RayCluster", None)
            event_type, obj = await events.__anext__()
            await events.aclose()
            assert (event_type, obj["metadata"]["name"]) == ("ADDED", "c1")
            return time.monotonic() - start

    assert 1.0 <= asyncio.run(scenario()) < 1.8
