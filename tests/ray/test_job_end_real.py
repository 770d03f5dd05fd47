"""A real Ray head signals a job's end: the Jobs API trigger sees it well before its next poll."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from airflow_provider_kuberay.hooks.ray_dashboard_async import RayDashboardAsyncHook
from airflow_provider_kuberay.triggers import RayDashboardJobTrigger
from tests.support.loop_watchdog import first_event

pytestmark = pytest.mark.ray

# The trigger would poll only after this long: an end seen sooner came from Ray's signal.
LONG_POLL = 60.0
# Seen within this of Ray's end_time (the benchmark measures the p95; this bound allows a loaded machine).
SEEN_WITHIN = 1.5


async def _seen_after_end(
    url: str, entrypoint: str, *, stop_after: float | None = None
) -> tuple[dict[str, Any], float]:
    """Submit a job, wait for it with a trigger; return the event and how long after Ray's end_time it came."""
    sid = f"end-{uuid.uuid4().hex[:8]}"
    async with RayDashboardAsyncHook(None, dashboard_url=url) as hook:
        await hook.submit_job(entrypoint=entrypoint, submission_id=sid)
        trigger = RayDashboardJobTrigger(submission_id=sid, dashboard_url=url, poll_interval=LONG_POLL)
        waiting = asyncio.ensure_future(first_event(trigger))
        if stop_after is not None:
            for _ in range(600):  # up to 60 s for the job to start
                if (await hook.get_job_info(sid))["status"] == "RUNNING":
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(stop_after)
            await hook.stop_job(sid)
        event = await asyncio.wait_for(waiting, LONG_POLL / 2)
        seen = time.time()
        end_time = (await hook.get_job_info(sid))["end_time"] / 1000
    return event, seen - end_time


def test_ends_are_seen_as_they_happen(ray_head: Any) -> None:
    url = ray_head.dashboard_url

    async def all_three() -> list[tuple[dict[str, Any], float]]:
        return list(
            await asyncio.gather(
                _seen_after_end(url, "python -c 'import time; time.sleep(1)'"),
                _seen_after_end(url, "python -c 'import sys, time; time.sleep(1); sys.exit(2)'"),
                _seen_after_end(url, "python -c 'import time; time.sleep(60)'", stop_after=1.0),
            )
        )

    results = asyncio.run(all_three())
    assert [(event["outcome"], event["status"]) for event, _ in results] == [
        ("succeeded", "SUCCEEDED"),
        ("failed", "FAILED"),
        ("failed", "STOPPED"),
    ]
    delays = [round(delay, 3) for _, delay in results]
    assert all(0 <= delay < SEEN_WITHIN for delay in delays), delays
