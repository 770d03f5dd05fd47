"""
Follow a Ray job's log stream across dashboard outages: when the stream breaks, reconnect and
resume where the task log stopped, without repeating or losing a line.

Ray's log tail replays the job's log from its start on every connection, so resuming means
skipping the characters already forwarded. A healthy stream only ends with the job; one that ends
earlier, fails, or cannot connect counts as a break. Breaks in a row are bounded (the retry
policy's attempts); any text received resets the count. The caller stops the follower once the
job is terminal and forwards the rest of the log from the full log, which the skipped prefix matches.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiohttp

from airflow_provider_kuberay.exceptions import RayDashboardError
from airflow_provider_kuberay.hooks.retry import RetryPolicy
from airflow_provider_kuberay.log_lines import LineForwarder

if TYPE_CHECKING:
    from airflow_provider_kuberay.hooks.ray_dashboard_async import RayDashboardAsyncHook

# What a broken stream raises: the dashboard's own errors, and the transport's.
STREAM_BREAKS: tuple[type[BaseException], ...] = (
    RayDashboardError,
    aiohttp.ClientError,
    asyncio.TimeoutError,
    OSError,
)


class ReplaySkipper:
    """
    Feed a replayed stream into a forwarder, dropping the prefix it has seen already.

    :param forwarder: where new text goes; its ``chars_fed`` says how much was forwarded.
    """

    def __init__(self, forwarder: LineForwarder) -> None:
        self._forwarder = forwarder
        self._skip = forwarder.chars_fed
        self._seen = 0

    def feed(self, chunk: str) -> bool:
        """Forward the part of ``chunk`` not forwarded before; return whether anything was new."""
        start = max(0, self._skip - self._seen)
        self._seen += len(chunk)
        if start >= len(chunk):
            return False
        self._forwarder.feed(chunk[start:])
        return True


async def follow_job_log(
    open_stream: Callable[[], AsyncIterator[str]],
    forwarder: LineForwarder,
    *,
    retry_policy: RetryPolicy,
    log: Any,
    what: str,
    ended: Callable[[], Awaitable[bool]],
) -> None:
    """
    Forward a job's log stream until it is cancelled, resuming after breaks.

    :param open_stream: opens a new log stream (replayed from the job log's start).
    :param forwarder: turns chunks into task-log lines.
    :param retry_policy: how many breaks in a row are tolerated, and the backoff between them.
    :param log: the trigger's logger.
    :param what: the job, for log messages.
    :param ended: whether the job is over (asked when a stream ends without an error).
    """
    breaks = 0
    while True:
        skipper = ReplaySkipper(forwarder)
        problem = "the stream ended before the job did"
        try:
            async for chunk in open_stream():
                if skipper.feed(chunk):
                    breaks = 0
            if await ended():
                return
        except STREAM_BREAKS as err:
            problem = f"{type(err).__name__}: {err}"
        breaks += 1
        if breaks >= retry_policy.attempts:
            log.warning("Streaming the log of %s stopped after %d breaks in a row (%s)", what, breaks, problem)
            return
        log.warning("The log stream of %s broke (%s); resuming after line %d", what, problem, forwarder.lines_forwarded)
        await asyncio.sleep(retry_policy.backoff(breaks))


def jobs_api_job_ended(hook: RayDashboardAsyncHook, submission_id: str) -> Callable[[], Awaitable[bool]]:
    """An ``ended`` check for :func:`follow_job_log`: the Jobs API says the job is terminal."""
    from airflow_provider_kuberay.status.jobs_api import judge_job

    async def ended() -> bool:
        return judge_job(await hook.get_job_info(submission_id)).terminal

    return ended
