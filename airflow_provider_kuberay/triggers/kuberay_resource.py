"""Base of the triggers that wait on a KubeRay resource: shared watch, periodic re-read, deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_kuberay.exceptions import KubeRayApiError, KubeRayUnavailableError
from airflow_provider_kuberay.hooks.kuberay_async import KubeRayAsyncHook
from airflow_provider_kuberay.status.kueue import workload_hold
from airflow_provider_kuberay.status.verdict import QUEUED, Verdict, kueue_queue, queued_message
from airflow_provider_kuberay.triggers.cancellation import cancel_arguments, cancel_within, owned
from airflow_provider_kuberay.triggers.event_hold import EventHold
from airflow_provider_kuberay.triggers.events import Outcome, ResourceEvent
from airflow_provider_kuberay.triggers.watch_hub import Update, WatchHub

# While Kueue holds the object, its Workload is read again after this many seconds, twice as long
# each time Kueue's reason is the same, up to the maximum: a wait of hours costs few requests.
KUEUE_REREAD_FIRST, KUEUE_REREAD_MAX = 2.0, 60.0


def describe_events(events: list[dict[str, Any]], limit: int = 10) -> list[str]:
    """Kubernetes events as short lines, warnings first: what a failure message should show."""
    ordered = sorted(events, key=lambda event: event.get("type") != "Warning")
    return [
        f"{event.get('type', '?')} {event.get('reason', '?')}: {str(event.get('message', '')).strip()}"
        for event in ordered[:limit]
    ]


class KubeRayResourceTrigger(BaseTrigger):
    """
    Wait for a condition on one KubeRay object, fed by the process-wide shared watch of its kind and
    namespace, re-reading the object every ``resync_interval`` seconds in case the watch is late
    (while the shared watch is live, it re-lists the kind itself: one request for all triggers).
    While it waits it never deletes or changes anything; when a user kills the deferred task
    (Airflow 3.3+ ``on_kill``), it deletes the object only with ``cancel_on_kill`` and only if the
    object carries ``owner_key``, the key of the task instance that created it.

    :param name: the object's name.
    :param namespace: its namespace.
    :param kuberay_conn_id: id of a ``kuberay`` connection.
    :param deadline: Unix time after which a ``timeout`` event is sent.
    :param resync_interval: seconds between re-reads when no watch event arrives.
    :param cancel_on_kill: delete the object when a user kills the deferred task (mark failed, clear).
    :param owner_key: the task-instance key (label) of the task that created the object; an object
        without it is never deleted.
    """

    event_class: ClassVar[type[ResourceEvent]]

    def __init__(
        self,
        name: str,
        namespace: str,
        kuberay_conn_id: str | None = None,
        deadline: float | None = None,
        resync_interval: float = 15.0,
        cancel_on_kill: bool = False,
        owner_key: str | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.deadline = deadline
        self.resync_interval = resync_interval
        self.cancel_on_kill = cancel_on_kill
        self.owner_key = owner_key
        self._hold = ""
        self._kueue_why = ""  # Kueue's reason and message, from the object's Workload
        self._kueue_readable = True  # False once the Workloads cannot be read (no RBAC, no Kueue API)
        self._kueue_next_read = 0.0
        self._kueue_interval = KUEUE_REREAD_FIRST

    @property
    def kind(self) -> str:
        return self.event_class.kind

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", self._arguments()

    def _arguments(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "kuberay_conn_id": self.kuberay_conn_id,
            "deadline": self.deadline,
            "resync_interval": self.resync_interval,
            **cancel_arguments(self.cancel_on_kill, self.owner_key),
        }

    def event(self, outcome: Outcome, **details: Any) -> ResourceEvent:
        """The event of this object: its identity, the outcome, and what the task needs."""
        return self.event_class(name=self.name, namespace=self.namespace, outcome=outcome, **details)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hold = EventHold(getattr(self, "task_instance", None))
        async with (
            KubeRayAsyncHook(self.kuberay_conn_id) as hook,
            WatchHub.subscribe(self.kuberay_conn_id, self.namespace, self.kind, self.name) as updates,
        ):
            try:
                event = await self._follow(hook, updates)
            except KubeRayApiError as err:
                event = self.event(Outcome.ERROR, message=str(err))
        await hold.wait(self.log)
        yield TriggerEvent(event.to_payload())

    async def _follow(self, hook: KubeRayAsyncHook, updates: asyncio.Queue[Update]) -> ResourceEvent:
        # Subscribed before this read: no change can fall between the two. The live shared watch
        # answers when it knows the object (one list for every trigger); otherwise read it.
        known, obj = await WatchHub.current(self.kuberay_conn_id, self.namespace, self.kind, self.name)
        if not known or obj is None:
            obj = await hook.find_object(self.kind, self.name, self.namespace)
        await self.started(hook, obj)
        try:
            while True:
                if obj is None:
                    return self.event(
                        Outcome.FAILED, reason="NotFound", message=f"{self.kind} {self.namespace}/{self.name} is gone"
                    )
                result = await self.judge(hook, obj)
                if result is not None:
                    return result
                wait = self.resync_interval
                if self.deadline is not None:
                    wait = min(wait, self.deadline - time.time())
                    if wait <= 0:
                        return await self.on_deadline(hook, obj)
                try:
                    update = await asyncio.wait_for(updates.get(), timeout=wait)
                except asyncio.TimeoutError:
                    if not WatchHub.is_live(self.kuberay_conn_id, self.namespace, self.kind):
                        # The live watch re-lists by itself; without one, read the object.
                        obj = await hook.find_object(self.kind, self.name, self.namespace)
                    continue
                if isinstance(update, BaseException):
                    self.log.warning("Shared watch of %s ended (%s); re-reading every %ss", self.kind, update, wait)
                    continue
                event_type, changed = update
                obj = None if event_type == "DELETED" else changed
        finally:
            await self.stopped()

    async def on_kill(self) -> None:
        """The user killed the deferred task: delete the object if this task created it."""
        if self.cancel_on_kill and self.owner_key:
            await cancel_within(
                f"{self.kind} {self.namespace}/{self.name}",
                self._delete_if_owned,
                self.log,
                getattr(self, "task_instance", None),
            )

    async def _delete_if_owned(self) -> bool:
        async with KubeRayAsyncHook(self.kuberay_conn_id) as hook:
            if not owned(await hook.find_object(self.kind, self.name, self.namespace), self.owner_key):
                return False
            return await hook.delete_object(self.kind, self.name, self.namespace)

    async def note_hold(self, hook: KubeRayAsyncHook, obj: dict[str, Any], verdict: Verdict) -> None:
        """
        Say in the task log that the object waits for Kueue, naming the queue and Kueue's reason (read
        from its Workload, only while it waits): once, and again when it changes or Kueue admits it.
        """
        hold = ""
        if verdict.reason == QUEUED:
            await self._read_kueue_reason(hook, obj)
            hold = queued_message(kueue_queue(obj), self._kueue_why)
        else:
            self._kueue_why, self._kueue_next_read, self._kueue_interval = "", 0.0, KUEUE_REREAD_FIRST
        if hold and hold != self._hold:
            self.log.info("%s %s/%s is %s", self.kind, self.namespace, self.name, hold)
        elif self._hold and not hold:
            self.log.info("%s %s/%s was admitted by Kueue", self.kind, self.namespace, self.name)
        self._hold = hold

    async def _read_kueue_reason(self, hook: KubeRayAsyncHook, obj: dict[str, Any], *, now: bool = False) -> None:
        """Read Kueue's reason from the object's Workload when it is time to; a failure never fails the task."""
        uid = (obj.get("metadata") or {}).get("uid")
        if not uid or not self._kueue_readable or (not now and time.monotonic() < self._kueue_next_read):
            return
        why = self._kueue_why
        try:
            why = workload_hold(await hook.list_workloads(str(uid), self.namespace))
        except KubeRayUnavailableError as err:
            self.log.warning(
                "Kueue's Workload of %s %s/%s could not be read: %s", self.kind, self.namespace, self.name, err
            )
        except KubeRayApiError as err:  # no RBAC for Workloads, or no Kueue API: the queue alone is named
            self._kueue_readable = False
            self.log.info(
                "Kueue's reason for holding %s %s/%s cannot be read: %s", self.kind, self.namespace, self.name, err
            )
            return
        changed = why != self._kueue_why
        self._kueue_interval = KUEUE_REREAD_FIRST if changed else min(2 * self._kueue_interval, KUEUE_REREAD_MAX)
        self._kueue_why, self._kueue_next_read = why, time.monotonic() + self._kueue_interval

    async def started(self, hook: KubeRayAsyncHook, obj: dict[str, Any] | None) -> None:
        """Hook for subclasses: start side work (e.g. log streaming) once the object was read."""

    async def stopped(self) -> None:
        """Hook for subclasses: stop side work."""

    async def judge(self, hook: KubeRayAsyncHook, obj: dict[str, Any]) -> ResourceEvent | None:
        """Return the event to send for this state of the object, or ``None`` to keep waiting."""
        raise NotImplementedError

    async def recent_events(self, hook: KubeRayAsyncHook) -> list[str]:
        """The object's recent Kubernetes events, described for a failure message."""
        return describe_events(await hook.list_events(self.name, self.namespace, kind=self.kind))

    async def on_deadline(self, hook: KubeRayAsyncHook, obj: dict[str, Any]) -> ResourceEvent:
        """The event sent when the deadline passes."""
        return self.event(
            Outcome.TIMEOUT,
            message=f"{self.kind} {self.namespace}/{self.name} not done by the task's deadline"
            + await self.still_held(hook, obj),
        )

    async def still_held(self, hook: KubeRayAsyncHook, obj: dict[str, Any]) -> str:
        """What a timeout message adds when the object still waits for Kueue: the queue and Kueue's latest reason."""
        if not self._hold:
            return ""
        await self._read_kueue_reason(hook, obj, now=True)
        return f": still {queued_message(kueue_queue(obj), self._kueue_why)}"
