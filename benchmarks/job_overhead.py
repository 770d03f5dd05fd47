"""
Job overhead on a local Ray head: many short jobs through (a) Ray's own ``JobSubmissionClient``
polling every second and (b) the provider's ``KubeRaySubmitJobOperator`` (deferrable) with its
trigger run in-process at the same 1 s ``poll_interval``. Overhead = time from start to result
minus the job's own runtime (Ray's ``end_time - start_time``).

Each pair of runs gives both ways the same job, of a random length between 0.5 and 1.5 s, so the
job's end falls at a random phase of both 1 s polls alike; the order within a pair is random too.
Reported: each way's mean overhead with its 95% interval, and the ratio of the means with its 95%
interval (a paired bootstrap).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from benchmarks.common import Row, fmt, isolated_airflow_home, mean_interval, ratio_interval, verdict
from benchmarks.ray_jobs import CLIENT_POLL, ended, random_lengths, sleeper, submit_and_poll
from tests.support.loop_watchdog import first_event

PAIRS = 40
GOAL_RATIO = 1.0


def via_client(url: str, entrypoint: str) -> tuple[float, str]:
    sid = f"bench-client-{uuid.uuid4().hex[:8]}"
    start = time.perf_counter()
    submit_and_poll(url, sid, entrypoint)
    return time.perf_counter() - start, sid


def via_provider(url: str, entrypoint: str) -> tuple[float, str]:
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_provider_kuberay.operators import KubeRaySubmitJobOperator
    from tests.support.airflow_context import FakeTaskInstance, context_for

    sid = f"bench-provider-{uuid.uuid4().hex[:8]}"
    start = time.perf_counter()
    operator = KubeRaySubmitJobOperator(
        task_id="bench", entrypoint=entrypoint, submission_id=sid, ray_dashboard_conn_id=None,
        dashboard_url=url, deferrable=True, poll_interval=CLIENT_POLL,
    )  # fmt: skip
    context: Any = context_for(FakeTaskInstance())
    try:
        operator.execute(context)
        raise AssertionError("the operator did not defer")
    except TaskDeferred as deferred:
        event = asyncio.run(first_event(deferred.trigger))
        operator.execute_complete(context, event)
    return time.perf_counter() - start, sid


def _overhead(way: Callable[[str, str], tuple[float, str]], url: str, length: float) -> float:
    total, sid = way(url, sleeper(length))
    start, end = ended(url, sid)
    return total - (end - start)


def run() -> list[Row]:
    isolated_airflow_home()
    from devtools.local_ray import LocalRayHead

    ways = {"client": via_client, "provider": via_provider}
    overhead: dict[str, list[float]] = {name: [] for name in ways}
    order = random.Random(7)
    head = LocalRayHead(num_cpus=2).start()
    try:
        url = head.dashboard_url
        for way in ways.values():  # warm-up: imports, first connection
            _overhead(way, url, 0.5)
        for length in random_lengths(PAIRS, seed=4):
            for name in order.sample(list(ways), len(ways)):
                overhead[name].append(_overhead(ways[name], url, length))
    finally:
        head.stop()
    client, provider = overhead["client"], overhead["provider"]
    b, b_low, b_high = mean_interval(client)
    c, c_low, c_high = mean_interval(provider)
    ratio, r_low, r_high = ratio_interval(provider, client)
    runs = str(PAIRS)

    def interval(mean: float, low: float, high: float) -> str:
        return f"{fmt(mean, ' s')} [{fmt(low)}, {fmt(high)}]"

    return [
        Row("job overhead", "(a) JobSubmissionClient, 1 s poll: start->result minus job runtime, mean [95%]",
            interval(b, b_low, b_high), runs=runs),
        Row("job overhead", "(b) provider operator + trigger, 1 s poll, mean [95%]", interval(c, c_low, c_high),
            fmt(b, " s") + " (a)", f"{ratio:.2f}x [{r_low:.2f}, {r_high:.2f}] (a)", f"<= {GOAL_RATIO:g}x (a)",
            verdict(ratio <= GOAL_RATIO), runs),
    ]  # fmt: skip


if __name__ == "__main__":
    for row in run():
        print(row)
