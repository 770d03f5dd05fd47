"""
Job end latency on a local Ray head: from Ray's terminal status (the job's ``end_time``, set when
Ray records the end) to the moment the waiter knows. (a) Ray's ``JobSubmissionClient`` reading the
status every second; (b) the provider's ``RayDashboardJobTrigger`` with the operator's default
``poll_interval`` (5 s): it sees the end through Ray's supervisor log, not by polling.

Short jobs of random lengths (0.5-1.5 s, the same for both), run in a shuffled order, a few at a
time, as a triggerer runs its triggers: the provider's in one event loop, the client's in threads.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
import uuid

from benchmarks.common import Row, fmt, isolated_airflow_home, percentile, verdict
from benchmarks.ray_jobs import ended, random_lengths, sleeper, submit_and_poll
from tests.support.loop_watchdog import first_event

RUNS = 50  # jobs per waiter
AT_ONCE = 4
GOAL_P95 = 0.2


async def _by_trigger(url: str, submission_id: str, entrypoint: str) -> float:
    from airflow_provider_kuberay.hooks.ray_dashboard_async import RayDashboardAsyncHook
    from airflow_provider_kuberay.triggers import RayDashboardJobTrigger

    async with RayDashboardAsyncHook(None, dashboard_url=url) as hook:
        await hook.submit_job(entrypoint=entrypoint, submission_id=submission_id)
    event = await first_event(RayDashboardJobTrigger(submission_id=submission_id, dashboard_url=url))
    seen = time.time()
    assert event["status"] == "SUCCEEDED", event
    return seen


async def _measure(url: str) -> dict[str, list[float]]:
    lengths = random_lengths(RUNS, seed=18)
    work = [(way, length) for length in lengths for way in ("client", "trigger")]
    random.Random(3).shuffle(work)
    queue: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)
    delays: dict[str, list[float]] = {"client": [], "trigger": []}

    async def worker() -> None:
        while not queue.empty():
            way, length = queue.get_nowait()
            sid = f"bench-end-{way}-{uuid.uuid4().hex[:8]}"
            if way == "trigger":
                seen = await _by_trigger(url, sid, sleeper(length))
            else:
                seen = await asyncio.to_thread(submit_and_poll, url, sid, sleeper(length))
            _, end = await asyncio.to_thread(ended, url, sid)
            delays[way].append(seen - end)

    await asyncio.gather(*(worker() for _ in range(AT_ONCE)))
    return delays


def run() -> list[Row]:
    isolated_airflow_home()
    from devtools.local_ray import LocalRayHead

    head = LocalRayHead(num_cpus=4).start()
    try:
        asyncio.run(_measure_warm(head.dashboard_url))
        delays = asyncio.run(_measure(head.dashboard_url))
    finally:
        head.stop()
    client, trigger = delays["client"], delays["trigger"]
    for way, values in delays.items():
        print(f"[bench] job end, {way}: slowest {sorted(values)[-5:]}", file=sys.stderr)
    c95, t95 = percentile(client, 95), percentile(trigger, 95)
    runs = str(len(trigger))
    return [
        Row("job end seen", "(a) JobSubmissionClient, 1 s poll: end_time -> seen, p95 (p50)",
            f"{fmt(c95, ' s')} ({fmt(percentile(client, 50), ' s')})", runs=str(len(client))),
        Row("job end seen", "(b) RayDashboardJobTrigger (poll_interval 5 s): end_time -> event, p95 (p50)",
            f"{fmt(t95, ' s')} ({fmt(percentile(trigger, 50), ' s')})", fmt(c95, " s") + " (a)",
            f"{t95 / c95:.2f}x (a)", f"p95 < {GOAL_P95:g} s", verdict(t95 < GOAL_P95), runs),
    ]  # fmt: skip


async def _measure_warm(url: str) -> None:
    """One job each way first: imports, the first connection, Ray's first workers."""
    await _by_trigger(url, f"bench-end-warm-{uuid.uuid4().hex[:8]}", sleeper(0.1))
    await asyncio.to_thread(submit_and_poll, url, f"bench-end-warm-{uuid.uuid4().hex[:8]}", sleeper(0.1))


if __name__ == "__main__":
    for row in run():
        print(row)
