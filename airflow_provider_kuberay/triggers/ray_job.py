"""Trigger that follows a RayJob to a terminal state, streaming the job's output into the task log."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from airflow_provider_kuberay.exceptions import KubeRayApiError, KubeRayUnavailableError, RayDashboardError
from airflow_provider_kuberay.hooks.ray_dashboard_async import RayDashboardAsyncHook
from airflow_provider_kuberay.kube_labels import JOB_NAME_LABEL
from airflow_provider_kuberay.log_lines import LineForwarder, last_lines
from airflow_provider_kuberay.status import job_info, job_verdict
from airflow_provider_kuberay.status.job import WAITING
from airflow_provider_kuberay.triggers._job_log import STREAM_BREAKS, copy_job_log
from airflow_provider_kuberay.triggers.events import Outcome, RayJobEvent, ResourceEvent
from airflow_provider_kuberay.triggers.kuberay_resource import KubeRayResourceTrigger
from airflow_provider_kuberay.triggers.log_position import LogPosition

if TYPE_CHECKING:
    from airflow_provider_kuberay.hooks.kuberay_async import KubeRayAsyncHook

K8S_JOB_MODE = "K8sJobMode"
_FIND_POD_INTERVAL = 2.0
_LOG_FAILURES: tuple[type[BaseException], ...] = (KubeRayApiError, *STREAM_BREAKS)


def submission_mode(obj: dict[str, Any]) -> str:
    return str(obj.get("spec", {}).get("submissionMode") or K8S_JOB_MODE)


class RayJobTrigger(KubeRayResourceTrigger):
    """
    Wait until a RayJob is terminal. Success only on ``Complete`` + ``SUCCEEDED``; the event of a
    failure carries KubeRay's reason and message, the job log's last lines and recent events.

    While it waits, the job's output goes to the task log, followed through the Ray dashboard
    (about 0.1 s behind the job) and, in K8sJobMode when the dashboard cannot be reached, through
    the submitter pod's log. How much of the dashboard's log the task log holds is kept in an XCom of
    the task (:class:`LogPosition`): a trigger that another triggerer takes over continues there.
    When a user kills the deferred task (Airflow 3.3+ ``on_kill``), it deletes the RayJob only with
    ``cancel_on_kill`` and only if the RayJob carries ``owner_key`` (see the base class).

    :param stream_logs: copy the job's output into the task log.
    :param log_tail_lines: how many last log lines a failure event carries.
    :param until_waiting: also report (outcome ``waiting``) when an InteractiveMode RayJob reaches
        ``Waiting``: its cluster is ready and the task submits the job itself.
    """

    event_class = RayJobEvent

    def __init__(
        self,
        *args: Any,
        stream_logs: bool = True,
        log_tail_lines: int = 50,
        until_waiting: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.stream_logs = stream_logs
        self.log_tail_lines = log_tail_lines
        self.until_waiting = until_waiting
        self._streamer: asyncio.Task[None] | None = None
        self._forwarder = LineForwarder(lambda line: self.log.info("[ray] %s", line))
        self._from_submitter = False
        self._latest: dict[str, Any] = {}
        self._position: LogPosition | None = None

    def _arguments(self) -> dict[str, Any]:
        arguments = {**super()._arguments(), "stream_logs": self.stream_logs, "log_tail_lines": self.log_tail_lines}
        if self.until_waiting:  # only then: triggers serialized by earlier releases keep their arguments
            arguments["until_waiting"] = True
        return arguments

    async def started(self, hook: KubeRayAsyncHook, obj: dict[str, Any] | None) -> None:
        self._latest = obj or {}
        if self.stream_logs:
            self._streamer = asyncio.create_task(self._stream(hook))

    async def stopped(self) -> None:
        if self._streamer is not None and not self._streamer.done():
            self._streamer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._streamer
        if self._position is not None:
            await self._position.close()

    async def judge(self, hook: KubeRayAsyncHook, obj: dict[str, Any]) -> ResourceEvent | None:
        self._latest = obj
        verdict = job_verdict(obj)
        await self.note_hold(hook, obj, verdict)
        if self.until_waiting and job_info(obj).job_deployment_status == WAITING:
            return self.event(Outcome.WAITING, phase=verdict.phase.value, **self._details(obj))
        if not verdict.terminal:
            return None
        if self._streamer is not None:
            await self._finish_log(hook, obj)
        details = self._details(obj)
        if verdict.succeeded:
            return self.event(Outcome.SUCCEEDED, phase=verdict.phase.value, **details)
        return self.event(
            Outcome.FAILED,
            phase=verdict.phase.value,
            reason=verdict.reason,
            message=verdict.message,
            log_tail=await self._log_tail(hook, obj),
            events=await self.recent_events(hook),
            **details,
        )

    async def on_deadline(self, hook: KubeRayAsyncHook, obj: dict[str, Any]) -> ResourceEvent:
        return self.event(
            Outcome.TIMEOUT,
            message=f"RayJob {self.namespace}/{self.name} not finished by the task's deadline"
            + await self.still_held(hook, obj),
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
        k8s_job_mode = submission_mode(self._latest) == K8S_JOB_MODE
        try:
            try:
                await self._stream_jobs_api(hook, fail_before_first_chunk=k8s_job_mode)
            except _LOG_FAILURES as err:
                if not k8s_job_mode:
                    raise
                self.log.info("The Ray dashboard cannot be read (%s); following the submitter pod's log", err)
                self._from_submitter = True
                await self._stream_submitter(hook)
        except Exception as err:  # the log is a courtesy: its trouble must never decide the task's outcome
            self.log.warning("Streaming the log of RayJob %s stopped: %s", self.name, err)

    async def _finish_log(self, hook: KubeRayAsyncHook, obj: dict[str, Any]) -> None:
        """Deliver the rest of the job's log once the job is terminal."""
        assert self._streamer is not None
        if self._from_submitter:
            # The submitter's log ends with the job; give the stream a moment to deliver it.
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._streamer), 5.0)
        else:
            # The dashboard's stream stays open after the job; the rest comes from the log itself, at once.
            await self.stopped()
            try:
                # A trigger taken over after the job ended never streamed: it starts where the task log stands.
                await self._resume_position(job_info(obj).job_id)
                self._forwarder.feed((await self._whole_log(hook, obj))[self._forwarder.chars_fed :])
            except (KubeRayApiError, RayDashboardError) as err:
                self.log.warning("The end of the log of RayJob %s could not be read: %s", self.name, err)
        self._forwarder.flush()

    async def _whole_log(self, hook: KubeRayAsyncHook, obj: dict[str, Any]) -> str:
        """The job's log from the dashboard; in K8sJobMode, the submitter's when nothing was read yet."""
        try:
            dashboard = await self._dashboard(hook, obj)
            if dashboard is None:
                return ""
            async with dashboard:
                return await dashboard.get_job_logs(job_info(obj).job_id)
        except RayDashboardError:
            if submission_mode(obj) != K8S_JOB_MODE or self._forwarder.chars_fed:
                raise
            pod = await self._submitter_pod(hook)
            return await hook.read_pod_log(pod, self.namespace) if pod else ""

    async def _resume_position(self, job_id: str | None) -> None:
        """Once per trigger: continue the task log where an earlier trigger of this try left it."""
        if self._position is None and job_id:
            self._position = LogPosition(getattr(self, "task_instance", None), job_id, self.log.warning)
            await self._position.resume(self._forwarder, self.log.info)

    async def _stream_submitter(self, hook: KubeRayAsyncHook) -> None:
        finished: set[str] = set()
        # Lines forwarded per pod: a stream that broke is followed again from the start, skipping them.
        forwarded: dict[str, int] = {}
        breaks = 0
        while not job_verdict(self._latest).terminal:
            pod = await self._submitter_pod(hook)
            if pod is None or pod in finished:  # not started yet, or a retry's pod to come
                await asyncio.sleep(_FIND_POD_INTERVAL)
                continue
            skip = forwarded.setdefault(pod, 0)
            self.log.info("Following the log of submitter pod %s", pod)
            try:
                async for line in hook.stream_pod_log(pod, self.namespace):
                    if skip:
                        skip -= 1
                        continue
                    forwarded[pod] += 1
                    self._forwarder.feed(line if line.endswith("\n") else line + "\n")
            except KubeRayUnavailableError as err:
                breaks += 1
                if breaks >= hook.retry_policy.attempts:
                    raise
                self.log.warning("The log stream of pod %s broke (%s); following it again", pod, err)
                await asyncio.sleep(hook.retry_policy.delay(breaks))
                continue
            finished.add(pod)

    async def _stream_jobs_api(self, hook: KubeRayAsyncHook, *, fail_before_first_chunk: bool) -> None:
        while (dashboard := await self._dashboard(hook, self._latest)) is None:
            if job_verdict(self._latest).terminal:
                return
            await asyncio.sleep(_FIND_POD_INTERVAL)
        job_id = job_info(self._latest).job_id
        await self._resume_position(job_id)
        async with dashboard:
            await copy_job_log(
                dashboard,
                job_id,
                self._forwarder,
                self.log.warning,
                fail_before_first_chunk=fail_before_first_chunk,
            )
