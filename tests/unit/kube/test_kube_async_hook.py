"""KubeRayAsyncHook against a fake Kubernetes API: each call, the watch loop, and the event loop never blocked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import pytest

from airflow_provider_kuberay.exceptions import (
    KubeRayApiError,
    KubeRayNotFoundError,
    KubeRayUnavailableError,
)
from airflow_provider_kuberay.hooks.kuberay_async import KubeRayAsyncHook
from airflow_provider_kuberay.hooks.retry import RetryPolicy
from tests.support.fake_kube_api import FakeKubeApi, running_fake_kube_api
from tests.support.loop_watchdog import run_watched

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)
JOBS = "/apis/ray.io/v1/namespaces/default/rayjobs"


@pytest.fixture
def api() -> Iterator[FakeKubeApi]:
    yield from running_fake_kube_api()


def _hook(api: FakeKubeApi, **kwargs: Any) -> KubeRayAsyncHook:
    return KubeRayAsyncHook(None, config_dict=api.kubeconfig_dict(), retry_policy=FAST, **kwargs)


def _job(api: FakeKubeApi, name: str, namespace: str = "default", **labels: str) -> dict[str, Any]:
    return api.put_object(
        "RayJob", {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": name, "labels": labels}}, namespace
    )


async def _take(events: AsyncGenerator[tuple[str, dict[str, Any]], None], count: int) -> list[tuple[str, str, Any]]:
    taken = []
    for _ in range(count):
        event_type, obj = await asyncio.wait_for(events.__anext__(), 10)
        taken.append((event_type, obj["metadata"]["name"], (obj.get("status") or {}).get("jobStatus")))
    return taken


def _watch_calls(api: FakeKubeApi) -> list[dict[str, str]]:
    return [query for _, _, query in api.calls("GET", JOBS) if query.get("watch") == "true"]


# -- plain calls ---------------------------------------------------------------------------------
def test_get_find_list(api: FakeKubeApi) -> None:
    _job(api, "a", dag="d1")
    _job(api, "b", dag="d2")

    async def scenario() -> None:
        async with _hook(api) as hook:
            assert (await hook.get_object("RayJob", "a"))["metadata"]["name"] == "a"
            assert await hook.find_object("RayJob", "nope") is None
            with pytest.raises(KubeRayNotFoundError, match="not found"):
                await hook.get_object("RayJob", "nope")
            names = [o["metadata"]["name"] for o in await hook.list_objects("RayJob", label_selector="dag=d2")]
            assert names == ["b"]

    asyncio.run(scenario())


def test_transient_errors_retried_then_bounded(api: FakeKubeApi) -> None:
    _job(api, "a")

    async def scenario() -> None:
        async with _hook(api) as hook:
            api.fail_next(JOBS, 503, times=1)
            api.fail_next(JOBS, 429, times=1)
            assert (await hook.get_object("RayJob", "a"))["metadata"]["name"] == "a"
            assert len(api.calls("GET", JOBS)) == 3
            api.fail_next(JOBS, 502, times=10)
            with pytest.raises(KubeRayUnavailableError, match="HTTP 502"):
                await hook.get_object("RayJob", "a")
            assert len(api.calls("GET", JOBS)) == 3 + FAST.attempts

    asyncio.run(scenario())


def test_pods_logs_events(api: FakeKubeApi) -> None:
    api.add_pod("submitter", labels={"job-name": "j"}, log="a\nb\nc\n", log_chunks=["a\nb", "\nc\n", "tail"])
    api.add_event("j", "Created", "made it", kind="RayJob", last_timestamp="2024-01-01T00:00:01Z")
    api.add_event("j", "Failed", "boom", kind="RayJob", type="Warning", last_timestamp="2024-01-01T00:00:02Z")

    async def scenario() -> None:
        async with _hook(api) as hook:
            pods = await hook.list_pods(label_selector="job-name=j")
            assert [p["metadata"]["name"] for p in pods] == ["submitter"]
            assert await hook.read_pod_log("submitter", tail_lines=1) == "c\n"
            assert [line async for line in hook.stream_pod_log("submitter", container="ray-head")] == [
                "a",
                "b",
                "c",
                "tail",
            ]
            events = await hook.list_events("j", kind="RayJob", limit=5)
            assert [(e["type"], e["reason"], e["message"]) for e in events] == [
                ("Normal", "Created", "made it"),
                ("Warning", "Failed", "boom"),
            ]

    asyncio.run(scenario())
    assert api.calls("GET", "/api/v1/namespaces/default/pods/submitter/log")[-1][2] == {
        "container": "ray-head",
        "follow": "true",
    }


def test_connection_namespace_read_without_blocking(api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KR_ASYNC", api.connection_json(namespace="ml"))
    _job(api, "j", namespace="ml")

    async def scenario() -> str:
        async with KubeRayAsyncHook("kr_async", retry_policy=FAST) as hook:
            await hook.get_conn_extras()
            return str((await hook.get_object("RayJob", "j"))["metadata"]["namespace"])

    asyncio.run(scenario())  # once: the first connection read of a process imports modules
    namespace, slow = run_watched(scenario())
    assert namespace == "ml"
    assert slow == []


def test_client_closed_by_async_with(api: FakeKubeApi) -> None:
    async def scenario() -> KubeRayAsyncHook:
        async with _hook(api) as hook:
            await hook.list_objects("RayJob")
            assert hook._api is not None
        return hook

    assert asyncio.run(scenario())._api is None


# -- watch ---------------------------------------------------------------------------------------
def test_watch_lists_then_streams_changes(api: FakeKubeApi) -> None:
    _job(api, "a", team="x")
    _job(api, "b", team="x")
    _job(api, "other", team="y")

    async def scenario() -> None:
        async with _hook(api) as hook:
            events = hook.watch_objects("RayJob", None, label_selector="team=x")
            assert await _take(events, 2) == [("ADDED", "a", None), ("ADDED", "b", None)]
            api.set_status("RayJob", "default", "a", {"jobStatus": "RUNNING"})
            api.set_status("RayJob", "default", "other", {"jobStatus": "RUNNING"})
            _job(api, "c", team="x")
            assert await _take(events, 2) == [("MODIFIED", "a", "RUNNING"), ("ADDED", "c", None)]
            api.remove_object("RayJob", "default", "b")
            assert await _take(events, 1) == [("DELETED", "b", None)]
            await events.aclose()

    asyncio.run(scenario())
    listing = api.calls("GET", JOBS)[0]
    assert listing[2] == {"labelSelector": "team=x", "limit": "500"}
    assert _watch_calls(api)[0]["labelSelector"] == "team=x"


def test_watch_by_name_resumes_after_the_stream_ends(api: FakeKubeApi) -> None:
    _job(api, "j")
    _job(api, "not-me")

    async def scenario() -> None:
        async with _hook(api) as hook:
            events = hook.watch_objects("RayJob", "default", name="j")
            assert await _take(events, 1) == [("ADDED", "j", None)]
            running = api.set_status("RayJob", "default", "j", {"jobStatus": "RUNNING"})
            api.set_status("RayJob", "default", "not-me", {"jobStatus": "RUNNING"})
            assert await _take(events, 1) == [("MODIFIED", "j", "RUNNING")]
            api.end_watches()
            api.set_status("RayJob", "default", "j", {"jobStatus": "SUCCEEDED"})
            assert await _take(events, 1) == [("MODIFIED", "j", "SUCCEEDED")]
            await events.aclose()
            watches = _watch_calls(api)
            assert len(watches) >= 2
            assert watches[-1]["resourceVersion"] == running["metadata"]["resourceVersion"]
            assert all(w["fieldSelector"] == "metadata.name=j" for w in watches)
            assert len([q for _, _, q in api.calls("GET", JOBS) if "watch" not in q]) == 1  # listed once

    asyncio.run(scenario())


@pytest.mark.parametrize("as_http", [False, True], ids=["error-event", "http-410"])
def test_watch_relists_on_410_gone(api: FakeKubeApi, as_http: bool) -> None:
    _job(api, "a")
    _job(api, "b")
    api.gone_as_http = as_http

    async def scenario() -> None:
        async with _hook(api) as hook:
            events = hook.watch_objects("RayJob", None)
            assert await _take(events, 2) == [("ADDED", "a", None), ("ADDED", "b", None)]
            api.set_status("RayJob", "default", "a", {"jobStatus": "RUNNING"})
            assert await _take(events, 1) == [("MODIFIED", "a", "RUNNING")]
            if as_http:
                api.end_watches()  # the next watch asks for a version that is gone: HTTP 410
            # Meanwhile b is deleted and a finishes, and the history is lost before a watcher sees it.
            with api._lock:
                api.remove_object("RayJob", "default", "b")
                api.set_status("RayJob", "default", "a", {"jobStatus": "SUCCEEDED"})
                api.expire_watch_history()
            assert await _take(events, 2) == [("DELETED", "b", None), ("ADDED", "a", "SUCCEEDED")]
            api.set_status("RayJob", "default", "a", {"jobStatus": "SUCCEEDED", "x": 1})
            event_type, obj = await asyncio.wait_for(events.__anext__(), 10)
            assert (event_type, obj["status"].get("x")) == ("MODIFIED", 1)
            await events.aclose()

    asyncio.run(scenario())
    listings = [q for _, _, q in api.calls("GET", JOBS) if "watch" not in q]
    assert len(listings) == 2


def test_watch_gone_relist_reports_deletions(api: FakeKubeApi) -> None:
    _job(api, "a")
    _job(api, "b")
    api.gone_as_http = True

    async def scenario() -> None:
        async with _hook(api) as hook:
            events = hook.watch_objects("RayJob", None)
            assert await _take(events, 2) == [("ADDED", "a", None), ("ADDED", "b", None)]
            api.set_status("RayJob", "default", "a", {"jobStatus": "RUNNING"})
            assert await _take(events, 1) == [("MODIFIED", "a", "RUNNING")]
            api.end_watches()
            with api._lock:
                api.objects.pop(("RayJob", "default", "b"))  # gone without an event a watcher could see
            _job(api, "elsewhere", namespace="other")  # history moves on...
            api.expire_watch_history()  # ...and is lost: resuming from the last version gets 410
            assert await _take(events, 2) == [("DELETED", "b", None), ("ADDED", "a", "RUNNING")]
            await events.aclose()

    asyncio.run(scenario())


def test_watch_backs_off_on_transient_errors(api: FakeKubeApi) -> None:
    _job(api, "a")

    async def scenario() -> None:
        async with _hook(api) as hook:
            api.fail_next(JOBS, 503, times=2)  # the first list
            events = hook.watch_objects("RayJob", None)
            assert await _take(events, 1) == [("ADDED", "a", None)]
            api.fail_next(JOBS, 500, times=2)  # the watch request
            api.set_status("RayJob", "default", "a", {"jobStatus": "RUNNING"})
            assert await _take(events, 1) == [("MODIFIED", "a", "RUNNING")]
            await events.aclose()

    asyncio.run(scenario())


def test_watch_gives_up_after_bounded_failures(api: FakeKubeApi) -> None:
    async def scenario() -> None:
        async with _hook(api) as hook:
            api.fail_next(JOBS, 503, times=100)
            with pytest.raises(KubeRayUnavailableError, match="failed 3 times in a row"):
                await hook.watch_objects("RayJob", None).__anext__()

    asyncio.run(scenario())
    assert len(api.calls("GET", JOBS)) == FAST.attempts


def test_watch_raises_non_transient_errors_at_once(api: FakeKubeApi) -> None:
    async def scenario() -> None:
        async with _hook(api) as hook:
            api.fail_next(JOBS, 403, times=100)
            with pytest.raises(KubeRayApiError, match="HTTP 403") as info:
                await hook.watch_objects("RayJob", None).__anext__()
            assert not isinstance(info.value, KubeRayUnavailableError)

    asyncio.run(scenario())
    assert len(api.calls("GET", JOBS)) == 1


def test_watch_never_blocks_the_event_loop(api: FakeKubeApi) -> None:
    _job(api, "j")

    async def scenario() -> list[tuple[str, str, Any]]:
        async with _hook(api) as hook:
            events = hook.watch_objects("RayJob", None, name="j")
            seen = await _take(events, 1)
            for status in ("RUNNING", "SUCCEEDED"):
                await asyncio.sleep(0.05)
                api.set_status("RayJob", "default", "j", {"jobStatus": status})
                seen += await _take(events, 1)
                api.end_watches()
            await events.aclose()
            return seen

    seen, slow = run_watched(scenario())
    assert seen == [("ADDED", "j", None), ("MODIFIED", "j", "RUNNING"), ("MODIFIED", "j", "SUCCEEDED")]
    assert slow == []


def test_rotated_token_is_picked_up(api: FakeKubeApi, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(api.kubeconfig_dict()))
    extra = {"kube_config_path": str(path)}
    monkeypatch.setenv("AIRFLOW_CONN_KR_AROTATE", json.dumps({"conn_type": "kuberay", "extra": extra}))

    async def scenario() -> None:
        async with KubeRayAsyncHook("kr_arotate", retry_policy=FAST) as hook:
            assert await hook.list_objects("RayJob") == []
            api.token = "rotated-token-0123"
            path.write_text(json.dumps(api.kubeconfig_dict()))
            assert await hook.list_objects("RayJob") == []
            api.token = "rotated-again-4567"  # the file still has the old one: reloading does not help
            with pytest.raises(KubeRayApiError, match="HTTP 401"):
                await hook.list_objects("RayJob")

    asyncio.run(scenario())
    assert len(api.requests) == 5


def test_watch_resumes_from_a_bookmark(api: FakeKubeApi) -> None:
    _job(api, "j")
    _job(api, "busy")

    async def scenario() -> None:
        async with _hook(api) as hook:
            events = hook.watch_objects("RayJob", None, name="j")
            assert await _take(events, 1) == [("ADDED", "j", None)]
            consumer = asyncio.ensure_future(events.__anext__())
            await asyncio.sleep(0.2)  # the watch is open
            for step in range(3):  # changes this watch does not see, but its resourceVersion should follow
                busy = api.set_status("RayJob", "default", "busy", {"step": step})
            api.send_bookmarks()
            await asyncio.sleep(0.2)
            api.end_watches()
            api.set_status("RayJob", "default", "j", {"jobStatus": "RUNNING"})
            event_type, obj = await asyncio.wait_for(consumer, 10)
            assert (event_type, obj["status"]) == ("MODIFIED", {"jobStatus": "RUNNING"})
            await events.aclose()
            watches = _watch_calls(api)
            assert watches[0]["allowWatchBookmarks"] == "true"
            assert watches[-1]["resourceVersion"] == busy["metadata"]["resourceVersion"]

    asyncio.run(scenario())
