"""See a Ray Jobs API job's end as it happens: poll its status, and read it at once when Ray signals the end."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from airflow_provider_kuberay.exceptions import RayDashboardError
from airflow_provider_kuberay.hooks.ray_dashboard_async import RayDashboardAsyncHook
from airflow_provider_kuberay.hooks.retry import RetryPolicy
from airflow_provider_kuberay.status.jobs_api import JobsApiVerdict, judge_job
from airflow_provider_kuberay.triggers._job_log import STREAM_BREAKS

# After a signal Ray may record the end a moment later (its supervisor logs, then writes the status):
# the status is read again after these pauses (2.9 s in all) before the poll interval applies again.
# Ray 2.60 records the end within milliseconds; Ray 2.40 records a failed job's end 2.0 s after the
# line (it first tails the job's log for the message), hence the coarser steps after the first 0.9 s.
RECHECKS = (0.02, 0.02, 0.03, 0.03, 0.05, 0.05, 0.1, 0.2, 0.4, *(0.25,) * 8)

# Pauses before following a broken signal stream again (the poll still runs meanwhile).
_RESUME = RetryPolicy(base_delay=0.5, max_delay=8.0)


class JobEndWatch:
    """
    Wait until a Ray job is terminal, learning of its end as it happens.

    The job's status is read every ``poll_interval`` seconds and, at once, whenever something says
    the job may have ended: Ray's supervisor of the job wrote to its log (it does just before it
    records the end; see :meth:`RayDashboardAsyncHook.follow_job_end`), or a caller's log stream
    ended (:meth:`nudge`). After such a signal the status is read again a few times within a fraction
    of a second, then for a few seconds more (``RECHECKS``). Without signals (an older Ray) this is
    plain polling.

    :param dashboard: the Ray dashboard that runs the job.
    :param submission_id: the job's submission id.
    :param poll_interval: seconds between status reads when nothing signals.
    :param deadline: a Unix time after which :meth:`wait` gives up and returns ``None``.
    :param log: the trigger's logger.
    """

    def __init__(
        self,
        dashboard: RayDashboardAsyncHook,
        submission_id: str,
        *,
        poll_interval: float,
        deadline: float | None,
        log: Any,
    ) -> None:
        self._dashboard = dashboard
        self.submission_id = submission_id
        self.poll_interval = poll_interval
        self.deadline = deadline
        self._log = log
        self._signal = asyncio.Event()

    def nudge(self) -> None:
        """Something says the job may have ended (e.g. its log stream ended): read its status now."""
        self._signal.set()

    async def wait(self) -> JobsApiVerdict | None:
        """The job's terminal verdict, or ``None`` when the deadline passed first."""
        follower = asyncio.create_task(self._follow_signals())
        try:
            return await self._poll()
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower

    async def _poll(self) -> JobsApiVerdict | None:
        rechecks: list[float] = []
        while True:
            verdict = judge_job(await self._dashboard.get_job_info(self.submission_id))
            if verdict.terminal:
                return verdict
            wait = rechecks.pop(0) if rechecks else self.poll_interval
            if self.deadline is not None:
                left = self.deadline - time.time()
                if left <= 0:
                    return None
                wait = min(wait, left)
            if await self._signalled(wait):
                rechecks = list(RECHECKS)

    async def _signalled(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._signal.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        self._signal.clear()
        return True

    async def _follow_signals(self) -> None:
        breaks = 0
        while True:
            try:
                async for _ in self._dashboard.follow_job_end(self.submission_id):
                    self.nudge()
                    breaks = 0
            except STREAM_BREAKS as err:
                if isinstance(err, RayDashboardError) and err.http_status is not None:
                    # Refused (a Ray without the supervisor's log, or an unknown job): the poll decides.
                    self._log.info(
                        "The end of Ray job %s is found by polling every %ss (%s)",
                        self.submission_id,
                        self.poll_interval,
                        err,
                    )
                    return
                breaks += 1
                await asyncio.sleep(_RESUME.backoff(breaks))
                continue
            self.nudge()  # the stream ended (or there was none to follow): the job may have too
            return
