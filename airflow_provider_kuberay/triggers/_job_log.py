"""Copy a Ray job's log into the task log while the job runs, resuming a broken stream where it stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from airflow_provider_kuberay.exceptions import RayDashboardError, RayJobNotFoundError
from airflow_provider_kuberay.hooks.ray_dashboard_async import RayDashboardAsyncHook
from airflow_provider_kuberay.hooks.retry import RetryPolicy
from airflow_provider_kuberay.log_lines import LineForwarder

# Pauses before opening a broken log stream again: jittered, growing per failure in a row. The
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
    Feed the job's log to ``forwarder`` until the stream ends or the caller cancels.

    A stream that breaks is opened again after a jittered pause and resumes after the characters
    already fed, so no line is lost or repeated. A job Ray does not know yet (a K8sJobMode
    submitter has not submitted it) is waited for.

    :param dashboard: the Ray dashboard that runs the job.
    :param submission_id: the job's submission id.
    :param forwarder: where the log goes; its ``chars_fed`` tells where to resume.
    :param warn: a logger's ``warning`` method, told when the stream breaks.
    :param fail_before_first_chunk: raise instead of retrying while nothing has been read (the caller
        has another source for the log).
    """
    failures = 0
    while True:
        try:
            async for chunk in dashboard.follow_job_log(submission_id, skip=forwarder.chars_fed):
                forwarder.feed(chunk)
                failures = 0
            return
        except RayJobNotFoundError:
            pass  # not submitted yet
        except RayDashboardError as err:
            if fail_before_first_chunk and forwarder.chars_fed == 0:
                raise
            failures += 1
            if failures == 1:
                warn("The log stream of Ray job %s broke (%s); resuming where it stopped", submission_id, err)
        await asyncio.sleep(_RESUME.backoff(failures + 1))
