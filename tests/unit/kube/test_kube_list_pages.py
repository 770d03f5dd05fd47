"""Lists are read in pages (both hooks, and the watch's list): never thousands of objects in one answer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_kuberay.exceptions import KubeRayApiError
from airflow_provider_kuberay.hooks import kube_operations
from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.hooks.kuberay_async import KubeRayAsyncHook
from airflow_provider_kuberay.hooks.retry import RetryPolicy
from tests.support.fake_kube_api import FakeKubeApi, running_fake_kube_api

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)
JOBS = "/apis/ray.io/v1/namespaces/default/rayjobs"
NAMES = [f"job-{index}" for index in range(7)]


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeApi]:
    monkeypatch.setattr(kube_operations, "LIST_PAGE", 3)  # 7 objects: pages of 3, 3 and 1
    for fake in running_fake_kube_api():
        for name in NAMES:
            fake.put_object("RayJob", {"metadata": {"name": name}, "spec": {}}, "default")
        yield fake


def _lists(api: FakeKubeApi) -> list[dict[str, str]]:
    return [query for _, _, query in api.calls("GET", JOBS) if query.get("watch") != "true"]


def test_the_sync_hook_reads_every_page(api: FakeKubeApi) -> None:
    hook = KubeRayHook(None, config_dict=api.kubeconfig_dict(), retry_policy=FAST)
    listed = hook.list_objects("RayJob")
    assert sorted(obj["metadata"]["name"] for obj in listed) == NAMES
    assert [(query["limit"], query.get("continue")) for query in _lists(api)] == [("3", None), ("3", "3"), ("3", "6")]


def test_a_snapshot_that_expired_between_pages_is_listed_again_once(api: FakeKubeApi) -> None:
    hook = KubeRayHook(None, config_dict=api.kubeconfig_dict(), retry_policy=FAST)
    api.expired_list_pages = 1
    assert sorted(obj["metadata"]["name"] for obj in hook.list_objects("RayJob")) == NAMES
    assert [query.get("continue") for query in _lists(api)] == [None, "3", None, "3", "6"]
    api.expired_list_pages = 2
    with pytest.raises(KubeRayApiError) as info:
        hook.list_objects("RayJob")
    assert info.value.http_status == 410


def test_the_async_hook_and_the_watch_read_every_page_then_watch_from_the_lists_version(api: FakeKubeApi) -> None:
    async def scenario() -> tuple[list[str], list[tuple[str, str]]]:
        async with KubeRayAsyncHook(None, config_dict=api.kubeconfig_dict(), retry_policy=FAST) as hook:
            listed = [obj["metadata"]["name"] for obj in await hook.list_objects("RayJob")]
            events = hook.watch_objects("RayJob", None)
            seen: list[tuple[str, str]] = []
            for _ in range(len(NAMES)):
                event_type, obj = await asyncio.wait_for(events.__anext__(), 10)
                seen.append((event_type, obj["metadata"]["name"]))
            api.set_status("RayJob", "default", "job-6", {"jobStatus": "RUNNING"})
            event_type, obj = await asyncio.wait_for(events.__anext__(), 10)
            seen.append((event_type, obj["metadata"]["name"]))
            await events.aclose()
            return listed, seen

    listed, seen = asyncio.run(scenario())
    assert sorted(listed) == NAMES
    assert sorted(seen[:-1]) == [("ADDED", name) for name in NAMES]
    assert seen[-1] == ("MODIFIED", "job-6")
    watches: list[dict[str, Any]] = [q for _, _, q in api.calls("GET", JOBS) if q.get("watch") == "true"]
    last_page = [q for q in _lists(api) if q.get("continue") == "6"]
    assert len(last_page) == 2  # each of the two lists (the hook's, the watch's) ended with the third page
    assert watches[0]["resourceVersion"]  # the watch starts from the list's snapshot, not from scratch
