"""Copy a Ray job's log into the task log while the job runs, resuming a broken stream where it stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# Imported with the module, not inside coroutines: an import would block the triggerer's loop.
import aiohttp

from airflow_provider_kuberay.exceptions import RayDashboardError, RayJobNotFoundError
from airflow_provider_kuberay.hooks.ray_dashboard_async import RayDashboardAsyncHook
from airflow_provider_kuberay.hooks.retry import RetryPolicy
from airflow_provider_kuberay.log_lines import LineForwarder
from airflow_provider_kuberay.status.jobs_api import judge_job

# What a broken stream raises: the dashboard's own errors, and the transport's.
STREAM_BREAKS: tuple[type[BaseException], ...] = (RayDashboardError, aiohttp.ClientError, OSError)

# Pauses before opening a broken log stream again: jittered, growing per break in a row. The
# attempts are not bounded: the caller stops the copy when the job ends.
_RESUME = RetryPolicy(base_delay=0.5, max_delay=8.0)


async def copy_job_log(
    dashboard: RayDashboardAsyncHook,
    submission_id: str,
    forwarder: LineForwarder,
    warn: Callable[..., object],
    *,
    fail_before_first_chunk: bool = False,
) -> None:
    """
    Feed the job's log to ``forwarder`` until the job has ended or the caller cancels.

    A stream that breaks, or ends while the job still runs, is opened again after a jittered pause
    and resumes after the characters already fed, so no line is lost or repeated. A job Ray does
    not know yet (a K8sJobMode submitter has not submitted it) is waited for.

    :param dashboard: the Ray dashboard that runs the job.
    :param submission_id: the job's submission id.
    :param forwarder: where the log goes; its ``chars_fed`` tells where to resume.
    :param warn: a logger's ``warning`` method, told when the stream breaks.
    :param fail_before_first_chunk: raise instead of retrying while nothing has been read (the caller
        has another source for the log).
    """
    breaks = 0
    while True:
        problem = "the stream ended before the job did"
        try:
            async for chunk in dashboard.follow_job_log(submission_id, skip=forwarder.chars_fed):
                forwarder.feed(chunk)
                breaks = 0
            if judge_job(await dashboard.get_job_info(submission_id)).terminal:
                return
        except RayJobNotFoundError:
            await asyncio.sleep(_RESUME.backoff(1))  # not submitted yet
            continue
        except STREAM_BREAKS as err:
            if fail_before_first_chunk and forwarder.chars_fed == 0:
                raise
            problem = f"{type(err).__name__}: {err}"
        breaks += 1
        warn(
            "The log stream of Ray job %s broke (%s); resuming after line %d",
            submission_id,
            problem,
            forwarder.lines_forwarded,
        )
        await asyncio.sleep(_RESUME.backoff(breaks))
