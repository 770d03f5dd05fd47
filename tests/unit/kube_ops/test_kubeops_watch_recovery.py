"""The shared watch after the API failed past its retries: it comes back for the triggers already waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from airflow_provider_kuberay.hooks import kuberay_async
from airflow_provider_kuberay.hooks.retry import RetryPolicy
from airflow_provider_kuberay.triggers import watch_hub
from airflow_provider_kuberay.triggers.ray_job import RayJobTrigger
from airflow_provider_kuberay.triggers.watch_hub import Update, WatchHub
from tests.support.fake_kube_api import FakeKubeApi, running_fake_kube_api
from tests.support.loop_watchdog import first_event

NS = "ml"
JOBS = f"/apis/ray.io/v1/namespaces/{NS}/rayjobs"
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)
COMPLETE = {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED", "jobId": "j", "rayClusterName": "rc"}


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeApi]:
    # Short waits: the hooks' default policy and the watch's restart pauses.
    monkeypatch.setattr(kuberay_async, "RetryPolicy", partial(RetryPolicy, 3, 0.01, 0.05))
    monkeypatch.setattr(watch_hub, "RESTART_POLICY", FAST)
    for api in running_fake_kube_api():
        monkeypatch.setenv("AIRFLOW_CONN_KUBERAY_DEFAULT", api.connection_json(namespace=NS))
        yield api


def _job(kube: FakeKubeApi, name: str) -> None:
    kube.put_object("RayJob", {"metadata": {"name": name, "namespace": NS}, "spec": {"entrypoint": "x"}})


async def _next_update(queue: asyncio.Queue[Update], timeout: float = 5.0) -> Update:
    return await asyncio.wait_for(queue.get(), timeout)


def test_a_watch_that_gave_up_comes_back_for_its_subscribers(kube: FakeKubeApi) -> None:
    _job(kube, "a")

    async def scenario() -> list[Any]:
        async with WatchHub.subscribe("kuberay_default", NS, "RayJob", "a") as updates:
            assert (await _next_update(updates))[0] == "ADDED"  # type: ignore[index]
            kube.fail_next(JOBS, 503, times=100)
            kube.end_watches()  # the stream ends; every attempt to resume fails
            failure = await _next_update(updates)
            assert isinstance(failure, Exception)
            assert "HTTP 503" in str(failure)
            assert not WatchHub.is_live("kuberay_default", NS, "RayJob")
            kube.clear_faults()
            await asyncio.to_thread(kube.set_status, "RayJob", NS, "a", COMPLETE)
            update = await _next_update(updates)
            assert WatchHub.is_live("kuberay_default", NS, "RayJob")
            return [update]

    [(event_type, obj)] = asyncio.run(scenario())  # type: ignore[misc]
    assert event_type in ("ADDED", "MODIFIED")
    assert obj["status"]["jobStatus"] == "SUCCEEDED"


def test_an_object_deleted_while_the_watch_was_down_is_reported_gone(kube: FakeKubeApi) -> None:
    _job(kube, "a")

    async def scenario() -> Update:
        async with WatchHub.subscribe("kuberay_default", NS, "RayJob", "a") as updates:
            await _next_update(updates)
            kube.fail_next(JOBS, 503, times=100)
            kube.end_watches()
            assert isinstance(await _next_update(updates), Exception)
            await asyncio.to_thread(kube.remove_object, "RayJob", NS, "a")
            kube.clear_faults()
            return await _next_update(updates)

    update = asyncio.run(scenario())
    assert not isinstance(update, BaseException)
    assert update[0] == "DELETED"


def test_a_waiting_trigger_hears_the_end_after_an_outage_that_outlasted_the_watch(kube: FakeKubeApi) -> None:
    """Another trigger subscribing after the outage must not leave the first one deaf."""
    _job(kube, "a")

    async def scenario() -> dict[str, Any]:
        trigger = RayJobTrigger("a", NS, "kuberay_default", resync_interval=60, stream_logs=False)
        waiting = asyncio.create_task(first_event(trigger))
        await asyncio.sleep(0.5)
        kube.fail_next(JOBS, 503, times=100)
        kube.end_watches()
        await asyncio.sleep(1.0)  # the watch gives up (3 attempts, a few ms apart)
        kube.clear_faults()
        async with WatchHub.subscribe("kuberay_default", NS, "RayJob", "b"):
            await asyncio.to_thread(kube.set_status, "RayJob", NS, "a", COMPLETE)
            return await asyncio.wait_for(waiting, 10)

    start = time.monotonic()
    event = asyncio.run(scenario())
    assert event["outcome"] == "succeeded"
    assert time.monotonic() - start < 10  # from the watch, not the trigger's own 60 s re-read
