"""Trigger that follows a Ray Jobs API job to its end, streaming its log into the task log."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_kuberay.exceptions import KubeRayApiError, RayDashboardError
from airflow_provider_kuberay.hooks.ray_dashboard_async import RayDashboardAsyncHook
from airflow_provider_kuberay.log_lines import LineForwarder, last_lines
from airflow_provider_kuberay.status.jobs_api import judge_job
from airflow_provider_kuberay.tasks.identity import TASK_KEY_METADATA
from airflow_provider_kuberay.triggers._job_log import copy_job_log
from airflow_provider_kuberay.triggers.cancellation import cancel_arguments, cancel_within
from airflow_provider_kuberay.triggers.event_hold import EventHold
from airflow_provider_kuberay.triggers.events import JobsApiEvent, Outcome
from airflow_provider_kuberay.triggers.job_end import JobEndWatch
from airflow_provider_kuberay.triggers.log_position import LogPosition


def _utc(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


class RayDashboardJobTrigger(BaseTrigger):
    """
    Wait, asynchronously, until a job submitted through the Ray Jobs API is terminal.

    It learns of the job's end as it happens (:class:`JobEndWatch`: Ray's supervisor of the job
    signals it through the dashboard's log stream; the status is also polled) and, at the same
    time, streams the job's log into the task log.
    The event carries the outcome, Ray's status and message, and the log's last lines when the
    job did not succeed. While it waits it stops nothing: the task decides. When a user kills the
    deferred task (Airflow 3.3+ ``on_kill``: mark failed, mark success, clear), it stops the job
    only with ``cancel_on_kill`` and only if the job's metadata carries ``owner_key``.

    How much of the log the task log holds is kept in an XCom of the task (:class:`LogPosition`):
    a trigger that another triggerer takes over continues the log there, repeating no line.

    :param submission_id: the job's submission id.
    :param ray_dashboard_conn_id: id of a ``ray_dashboard`` connection (may be ``None`` with a URL).
    :param dashboard_url: a dashboard URL overriding the connection's host.
    :param poll_interval: seconds between status checks (the end is usually seen sooner, when Ray
        signals it).
    :param stream_logs: whether to stream the job's log into the task log.
    :param log_tail_lines: how many last log lines a failure event carries.
    :param deadline: a Unix time after which a still running job yields a ``timeout`` event.
    :param cluster_name: instead of a ``ray_dashboard`` connection, the RayCluster whose dashboard
        to use, reached through the ``kuberay`` connection ``kuberay_conn_id``.
    :param namespace: the RayCluster's namespace.
    :param kuberay_conn_id: id of a ``kuberay`` connection.
    :param cancel_on_kill: stop the job when a user kills the deferred task.
    :param owner_key: the key of the task instance that submitted the job (its ``airflow_task_key``
        metadata); a job without it is never stopped.
    """

    def __init__(
        self,
        submission_id: str,
        ray_dashboard_conn_id: str | None = None,
        dashboard_url: str | None = None,
        poll_interval: float = 5.0,
        stream_logs: bool = True,
        log_tail_lines: int = 50,
        deadline: float | None = None,
        cluster_name: str | None = None,
        namespace: str | None = None,
        kuberay_conn_id: str | None = None,
        cancel_on_kill: bool = False,
        owner_key: str | None = None,
    ) -> None:
        super().__init__()
        self.submission_id = submission_id
        self.ray_dashboard_conn_id = ray_dashboard_conn_id
        self.dashboard_url = dashboard_url
        self.poll_interval = poll_interval
        self.stream_logs = stream_logs
        self.log_tail_lines = log_tail_lines
        self.deadline = deadline
        self.cluster_name = cluster_name
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.cancel_on_kill = cancel_on_kill
        self.owner_key = owner_key

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "submission_id": self.submission_id,
                "ray_dashboard_conn_id": self.ray_dashboard_conn_id,
                "dashboard_url": self.dashboard_url,
                "poll_interval": self.poll_interval,
                "stream_logs": self.stream_logs,
                "log_tail_lines": self.log_tail_lines,
                "deadline": self.deadline,
                "cluster_name": self.cluster_name,
                "namespace": self.namespace,
                "kuberay_conn_id": self.kuberay_conn_id,
                **cancel_arguments(self.cancel_on_kill, self.owner_key),
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hold = EventHold(getattr(self, "task_instance", None))
        # The client is built here, inside the triggerer's loop, never at construction.
        try:
            async with await self._dashboard() as hook:
                event = await self._follow(hook)
        except (RayDashboardError, KubeRayApiError) as err:
            event = JobsApiEvent(submission_id=self.submission_id, outcome=Outcome.ERROR, message=str(err))
        await hold.wait(self.log)
        yield TriggerEvent(event.to_payload())

    async def on_kill(self) -> None:
        """The user killed the deferred task: stop the job if this task submitted it and it still runs."""
        if self.cancel_on_kill and self.owner_key:
            await cancel_within(
                f"Ray job {self.submission_id}", self._stop_if_owned, self.log, getattr(self, "task_instance", None)
            )

    async def _stop_if_owned(self) -> bool:
        async with await self._dashboard() as hook:
            info = await hook.get_job_info(self.submission_id)
            if (info.get("metadata") or {}).get(TASK_KEY_METADATA) != self.owner_key or judge_job(info).terminal:
                return False
            return await hook.stop_job(self.submission_id)

    async def _dashboard(self) -> RayDashboardAsyncHook:
        if not self.cluster_name:
            return RayDashboardAsyncHook(self.ray_dashboard_conn_id, dashboard_url=self.dashboard_url)
        # Imported only for a job named by its cluster: the Kubernetes clients take ~2 s to import, which
        # every Jobs API task would otherwise pay in the worker before it defers.
        from airflow_provider_kuberay.hooks.kuberay_async import KubeRayAsyncHook

        async with KubeRayAsyncHook(self.kuberay_conn_id) as kube:
            endpoint = await kube.dashboard_endpoint(self.cluster_name, self.namespace)
        return RayDashboardAsyncHook(None, endpoint=endpoint)

    async def _follow(self, hook: RayDashboardAsyncHook) -> JobsApiEvent:
        position = LogPosition(getattr(self, "task_instance", None), self.submission_id, self.log.warning)
        forwarder = LineForwarder(lambda line: self.log.info("[ray] %s", line))
        if self.stream_logs:
            await position.resume(forwarder, self.log.info)
        watch = JobEndWatch(
            hook, self.submission_id, poll_interval=self.poll_interval, deadline=self.deadline, log=self.log
        )
        streamer = asyncio.create_task(self._stream_logs(hook, forwarder)) if self.stream_logs else None
        if streamer is not None:
            # The copy returns once its stream ended with the job: read the status at once.
            streamer.add_done_callback(lambda _: watch.nudge())
        try:
            verdict = await watch.wait()
            if verdict is not None:
                self.log.info("Ray job %s is %s", self.submission_id, verdict.status.value)
        finally:
            if streamer is not None and not streamer.done():
                streamer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await streamer
        full_log, unreadable = await self._read_log(hook)
        if self.stream_logs and not unreadable:
            # What the stream had not delivered yet comes from the log itself, at once.
            forwarder.feed(full_log[forwarder.chars_fed :])
            forwarder.flush()
        await position.close()
        if verdict is None:
            return JobsApiEvent(
                submission_id=self.submission_id,
                outcome=Outcome.TIMEOUT,
                message=f"still running at the deadline ({_utc(self.deadline)})",
                log_tail=unreadable or last_lines(full_log, self.log_tail_lines),
            )
        log_tail = "" if verdict.succeeded else unreadable or last_lines(full_log, self.log_tail_lines)
        return JobsApiEvent.ended(self.submission_id, verdict, log_tail)

    async def _stream_logs(self, hook: RayDashboardAsyncHook, forwarder: LineForwarder) -> None:
        await copy_job_log(hook, self.submission_id, forwarder, self.log.warning)

    async def _read_log(self, hook: RayDashboardAsyncHook) -> tuple[str, str]:
        """The whole job log, and an explanation instead when it cannot be read."""
        try:
            return await hook.get_job_logs(self.submission_id), ""
        except RayDashboardError as err:
            return "", f"(the job log could not be read: {err})"
