"""Trigger that follows a RayJob to a terminal state, streaming the job's output into the task log."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from airflow_provider_kuberay.exceptions import KubeRayApiError, RayDashboardError
from airflow_provider_kuberay.hooks.ray_dashboard_async import RayDashboardAsyncHook
from airflow_provider_kuberay.log_lines import LineForwarder, last_lines
from airflow_provider_kuberay.status import job_info, job_verdict
from airflow_provider_kuberay.triggers.job_log_follow import STREAM_BREAKS, follow_job_log
from airflow_provider_kuberay.triggers.kuberay_resource import (
    FAILED,
    SUCCEEDED,
    TIMEOUT,
    KubeRayResourceTrigger,
    describe_events,
)

if TYPE_CHECKING:
    from airflow_provider_kuberay.hooks.kuberay_async import KubeRayAsyncHook

K8S_JOB_MODE = "K8sJobMode"
# Kubernetes labels the pods of a batch Job with the Job's name; KubeRay names the submitter Job
# after the RayJob.
JOB_NAME_LABEL = "job-name"
_FIND_POD_INTERVAL = 2.0
_LOG_FAILURES: tuple[type[BaseException], ...] = (KubeRayApiError, *STREAM_BREAKS)


def submission_mode(obj: dict[str, Any]) -> str:
    return str(obj.get("spec", {}).get("submissionMode") or K8S_JOB_MODE)


class RayJobTrigger(KubeRayResourceTrigger):
    """
    Wait until a RayJob is terminal. Success only on ``Complete`` + ``SUCCEEDED``; the event of a
    failure carries KubeRay's reason and message, the job log's last lines and recent events.

    While it waits, the job's output goes to the task log: the submitter pod's log in K8sJobMode,
    the Ray Jobs API log stream otherwise.

    :param stream_logs: copy the job's output into the task log.
    :param log_tail_lines: how many last log lines a failure event carries.
    """

    kind = "RayJob"

    def __init__(self, *args: Any, stream_logs: bool = True, log_tail_lines: int = 50, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream_logs = stream_logs
        self.log_tail_lines = log_tail_lines
        self._streamer: asyncio.Task[None] | None = None
        self._latest: dict[str, Any] = {}

    def _arguments(self) -> dict[str, Any]:
        return {**super()._arguments(), "stream_logs": self.stream_logs, "log_tail_lines": self.log_tail_lines}

    async def started(self, hook: KubeRayAsyncHook, obj: dict[str, Any] | None) -> None:
        self._latest = obj or {}
        if self.stream_logs:
            self._streamer = asyncio.create_task(self._stream(hook))

    async def stopped(self) -> None:
        if self._streamer is not None and not self._streamer.done():
            self._streamer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._streamer

    async def judge(self, hook: KubeRayAsyncHook, obj: dict[str, Any]) -> dict[str, Any] | None:
        self._latest = obj
        verdict = job_verdict(obj)
        if not verdict.terminal:
            return None
        if self._streamer is not None:
            # The submitter's log ends with the job; give the stream a moment to deliver it.
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._streamer), 5.0)
        details = self._details(obj)
        if verdict.succeeded:
            return self.event(SUCCEEDED, phase=verdict.phase.value, **details)
        return self.event(
            FAILED,
            phase=verdict.phase.value,
            reason=verdict.reason,
            message=verdict.message,
            log_tail=await self._log_tail(hook, obj),
            events=describe_events(await hook.list_events(self.name, self.namespace, kind=self.kind)),
            **details,
        )

    async def on_deadline(self, hook: KubeRayAsyncHook, obj: dict[str, Any]) -> dict[str, Any]:
        return self.event(
            TIMEOUT,
            message=f"RayJob {self.namespace}/{self.name} not finished by the task's deadline",
            log_tail=await self._log_tail(hook, obj),
            **self._details(obj),
        )

    @staticmethod
    def _details(obj: dict[str, Any]) -> dict[str, Any]:
        info = job_info(obj)
        return {
            "job_id": info.job_id,
            "ray_cluster_name": info.ray_cluster_name,
            "job_status": info.job_status,
            "job_deployment_status": info.job_deployment_status,
            "dashboard_url": info.dashboard_url,
        }

    async def _submitter_pod(self, hook: KubeRayAsyncHook) -> str | None:
        pods = await hook.list_pods(self.namespace, label_selector=f"{JOB_NAME_LABEL}={self.name}")
        started = [p for p in pods if p.get("status", {}).get("phase") in ("Running", "Succeeded", "Failed")]
        started.sort(key=lambda p: p["metadata"].get("creationTimestamp") or "")
        return started[-1]["metadata"]["name"] if started else None

    async def _log_tail(self, hook: KubeRayAsyncHook, obj: dict[str, Any]) -> str:
        try:
            if submission_mode(obj) == K8S_JOB_MODE:
                pod = await self._submitter_pod(hook)
                if pod is None:
                    return ""
                return last_lines(
                    await hook.read_pod_log(pod, self.namespace, tail_lines=self.log_tail_lines), self.log_tail_lines
                )
            dashboard = await self._dashboard(hook, obj)
            if dashboard is None:
                return ""
            async with dashboard:
                return last_lines(await dashboard.get_job_logs(job_info(obj).job_id), self.log_tail_lines)
        except (KubeRayApiError, RayDashboardError) as err:
            return f"(the job log could not be read: {err})"

    async def _dashboard(self, hook: KubeRayAsyncHook, obj: dict[str, Any]) -> RayDashboardAsyncHook | None:
        info = job_info(obj)
        if not info.job_id or not info.ray_cluster_name:
            return None
        endpoint = await hook.dashboard_endpoint(info.ray_cluster_name, self.namespace)
        return RayDashboardAsyncHook(None, endpoint=endpoint)

    async def _stream(self, hook: KubeRayAsyncHook) -> None:
        forwarder = LineForwarder(lambda line: self.log.info("[ray] %s", line))
        try:
            if submission_mode(self._latest) == K8S_JOB_MODE:
                await self._stream_submitter(hook, forwarder)
            else:
                await self._stream_jobs_api(hook, forwarder)
        except _LOG_FAILURES as err:
            # The log is a courtesy: the RayJob's status is still followed through the API server.
            self.log.warning("Streaming the log of RayJob %s stopped: %s", self.name, err)
        finally:
            forwarder.flush()

    async def _stream_submitter(self, hook: KubeRayAsyncHook, forwarder: LineForwarder) -> None:
        streamed: set[str] = set()
        while not job_verdict(self._latest).terminal:
            pod = await self._submitter_pod(hook)
            if pod is None or pod in streamed:  # not started yet, or a retry's pod to come
                await asyncio.sleep(_FIND_POD_INTERVAL)
                continue
            streamed.add(pod)
            self.log.info("Following the log of submitter pod %s", pod)
            async for line in hook.stream_pod_log(pod, self.namespace):
                forwarder.feed(line if line.endswith("\n") else line + "\n")

    async def _stream_jobs_api(self, hook: KubeRayAsyncHook, forwarder: LineForwarder) -> None:
        while (dashboard := await self._dashboard(hook, self._latest)) is None:
            if job_verdict(self._latest).terminal:
                return
            await asyncio.sleep(_FIND_POD_INTERVAL)
        job_id = job_info(self._latest).job_id

        async def ended() -> bool:
            return job_verdict(self._latest).terminal

        async with dashboard:
            await follow_job_log(
                lambda: dashboard.tail_job_logs(job_id),
                forwarder,
                retry_policy=dashboard.retry_policy,
                log=self.log,
                what=f"RayJob {self.namespace}/{self.name}",
                ended=ended,
            )
