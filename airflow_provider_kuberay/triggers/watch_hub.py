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

# What a subscriber receives: ("ADDED" | "MODIFIED" | "DELETED", object), or the error that ended the watch.
Update = tuple[str, dict[str, Any]] | BaseException
WatchKey = tuple[str | None, str, str]


@dataclass
class _SharedWatch:
    key: WatchKey
    subscribers: dict[str, set[asyncio.Queue[Update]]] = field(default_factory=dict)
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    watch_calls: int = 0

    def publish(self, event_type: str, obj: dict[str, Any]) -> None:
        name = str(obj.get("metadata", {}).get("name", ""))
        if event_type == "DELETED":
            self.latest.pop(name, None)
        else:
            self.latest[name] = obj
        for queue in self.subscribers.get(name, ()):
            queue.put_nowait((event_type, obj))

    def fail(self, error: BaseException) -> None:
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
    kuberay_conn_id, namespace, kind = watch.key
    try:
        async with KubeRayAsyncHook(kuberay_conn_id) as hook:
            watch.watch_calls += 1
            async for event_type, obj in hook.watch_objects(kind, namespace):
                watch.publish(event_type, obj)
    except asyncio.CancelledError:
        raise
    except Exception as err:  # surfaced to every waiting trigger, which falls back to reading
        watch.fail(err)
