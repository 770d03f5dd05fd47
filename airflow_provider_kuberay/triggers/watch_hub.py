"""
One Kubernetes watch per (connection, namespace, kind) in a triggerer process, shared by every
trigger that waits on a resource of that kind, instead of one poller per task.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

# Imported with the module: a first import inside the coroutine would stall the triggerer's loop.
from airflow_provider_kuberay.hooks.kuberay_async import KubeRayAsyncHook
from airflow_provider_kuberay.hooks.retry import RetryPolicy

# What a subscriber receives: ("ADDED" | "MODIFIED" | "DELETED", object), or the error that ended the watch.
Update = tuple[str, dict[str, Any]] | BaseException
WatchKey = tuple[str | None, str, str]
# A live watch re-lists its kind this often (one request for every subscriber) in case it is late.
RESYNC_SECONDS = 15.0
# How long a new subscriber waits for the shared watch's first list before reading on its own.
FIRST_LIST_WAIT = 5.0
# Pauses (jittered, growing up to 8 s) before a watch that gave up starts again.
RESTART_POLICY = RetryPolicy()


def _newer(candidate: dict[str, Any], known: dict[str, Any] | None) -> bool:
    """Whether a listed object is newer than the one the watch holds (resourceVersions compared as numbers)."""
    if known is None:
        return True
    new_rv = str(candidate.get("metadata", {}).get("resourceVersion", ""))
    old_rv = str(known.get("metadata", {}).get("resourceVersion", ""))
    if new_rv.isdigit() and old_rv.isdigit():
        return int(new_rv) > int(old_rv)
    return new_rv != old_rv


@dataclass
class _SharedWatch:
    key: WatchKey
    subscribers: dict[str, set[asyncio.Queue[Update]]] = field(default_factory=dict)
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    watch_calls: int = 0
    # Set while the watch is complete (listed, streaming); cleared when it fails.
    listed: asyncio.Event = field(default_factory=asyncio.Event)

    def publish(self, event_type: str, obj: dict[str, Any]) -> None:
        name = str(obj.get("metadata", {}).get("name", ""))
        if event_type == "DELETED":
            self.latest.pop(name, None)
        else:
            self.latest[name] = obj
        for queue in self.subscribers.get(name, ()):
            queue.put_nowait((event_type, obj))

    @property
    def live(self) -> bool:
        """The watch runs and has listed: its view of every object is current (give or take a resync)."""
        return self.listed.is_set() and self.task is not None and not self.task.done()

    def resync(self, items: list[dict[str, Any]]) -> None:
        """Publish what a fresh list shows newer than what the watch delivered (a late watch)."""
        for obj in items:
            if _newer(obj, self.latest.get(str(obj.get("metadata", {}).get("name", "")))):
                self.publish("MODIFIED", obj)

    def fail(self, error: BaseException) -> None:
        self.listed.clear()
        for queues in self.subscribers.values():
            for queue in queues:
                queue.put_nowait(error)

    @property
    def idle(self) -> bool:
        return not any(self.subscribers.values())


class WatchHub:
    """Registry of the shared watches of one event loop (the triggerer's)."""

    # Keyed by loop: a watch task belongs to the loop that started it.
    _hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[WatchKey, _SharedWatch]] = (
        weakref.WeakKeyDictionary()
    )

    @classmethod
    def _watches(cls) -> dict[WatchKey, _SharedWatch]:
        return cls._hubs.setdefault(asyncio.get_running_loop(), {})

    @classmethod
    def active_watches(cls) -> int:
        """How many shared watches run in the current loop (for tests and metrics)."""
        return sum(1 for watch in cls._watches().values() if watch.task and not watch.task.done())

    @classmethod
    async def current(cls, kuberay_conn_id: str | None, namespace: str, kind: str, name: str) -> tuple[bool, Any]:
        """
        ``(True, object or None)`` from the live shared watch of that kind (after waiting up to
        ``FIRST_LIST_WAIT`` for its first list), or ``(False, None)`` when the caller must read itself.
        """
        watch = cls._watches().get((kuberay_conn_id, namespace, kind))
        if watch is None or watch.task is None or watch.task.done():
            return False, None
        if not watch.listed.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(watch.listed.wait()), FIRST_LIST_WAIT)
        if not watch.live:
            return False, None
        return True, watch.latest.get(name)

    @classmethod
    def is_live(cls, kuberay_conn_id: str | None, namespace: str, kind: str) -> bool:
        """Whether a live shared watch (which re-lists by itself) covers that kind in that namespace."""
        watch = cls._watches().get((kuberay_conn_id, namespace, kind))
        return watch is not None and watch.live

    @classmethod
    @contextlib.asynccontextmanager
    async def subscribe(
        cls, kuberay_conn_id: str | None, namespace: str, kind: str, name: str
    ) -> AsyncIterator[asyncio.Queue[Update]]:
        """
        Receive the watch events of one object; the shared watch starts with the first subscriber
        and stops with the last.
        """
        watches = cls._watches()
        key: WatchKey = (kuberay_conn_id, namespace, kind)
        watch = watches.get(key)
        if watch is None or watch.task is None or watch.task.done():
            watch = _SharedWatch(key)
            watches[key] = watch
            watch.task = asyncio.create_task(_run_watch(watch), name=f"kuberay-watch-{kind}-{namespace}")
        queue: asyncio.Queue[Update] = asyncio.Queue()
        watch.subscribers.setdefault(name, set()).add(queue)
        if name in watch.latest:
            queue.put_nowait(("ADDED", watch.latest[name]))
        try:
            yield queue
        finally:
            watch.subscribers.get(name, set()).discard(queue)
            if watch.idle and watch.task is not None:
                watch.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await watch.task
                if watches.get(key) is watch:
                    del watches[key]


async def _run_watch(watch: _SharedWatch) -> None:
    # A watch that gave up (the API failed past the hook's retries) comes back after a pause for as
    # long as anyone subscribes: a replacement watch would not feed the queues of the triggers
    # already waiting, which would then take it for theirs and never hear of their object again.
    restarts = 0
    while True:
        try:
            await _watch_once(watch)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # surfaced to every waiting trigger, which reads on its own meanwhile
            watch.fail(err)
        restarts += 1
        await asyncio.sleep(RESTART_POLICY.delay(min(restarts, RESTART_POLICY.attempts)))


async def _watch_once(watch: _SharedWatch) -> None:
    kuberay_conn_id, namespace, kind = watch.key
    resyncer: asyncio.Task[None] | None = None
    # Names listed by this run's first list; whatever the watch held beyond them went while it was down.
    relisted: set[str] | None = set()

    def listed() -> None:
        nonlocal relisted
        if relisted is not None:
            for name in [name for name in watch.latest if name not in relisted]:
                watch.publish("DELETED", watch.latest[name])
            relisted = None
        watch.listed.set()

    try:
        async with KubeRayAsyncHook(kuberay_conn_id) as hook:
            watch.watch_calls += 1
            resyncer = asyncio.create_task(_resync(watch, hook))
            async for event_type, obj in hook.watch_objects(kind, namespace, on_listed=listed):
                if relisted is not None:
                    relisted.add(str(obj.get("metadata", {}).get("name", "")))
                watch.publish(event_type, obj)
    finally:
        if resyncer is not None:
            resyncer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await resyncer


async def _resync(watch: _SharedWatch, hook: KubeRayAsyncHook) -> None:
    """One list every ``RESYNC_SECONDS`` for all subscribers, instead of one read per trigger."""
    _, namespace, kind = watch.key
    while True:
        await asyncio.sleep(RESYNC_SECONDS)
        if not watch.listed.is_set():
            continue
        try:
            watch.resync(await hook.list_objects(kind, namespace))
        except Exception as err:  # the watch itself reports lasting trouble; a failed resync waits for the next
            hook.log.warning("Re-listing %s in %s failed: %s", kind, namespace, err)
