"""
Job overhead on a local Ray head: the same short job through (a) the ``ray job submit`` CLI as a
BashOperator would run it, (b) Ray's own ``JobSubmissionClient`` polling every second, (c) the
provider's ``KubeRaySubmitJobOperator`` (deferrable) with its trigger run in-process at the same
1 s poll interval. Overhead = time from start to result minus the job's own runtime (Ray's
``end_time - start_time``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.common import Row, fmt, isolated_airflow_home, median, verdict
from tests.support.loop_watchdog import first_event

RUNS = 5
ENTRYPOINT = "python -c 'import time; time.sleep(1)'"
ENTRYPOINT_ARGV = ["python", "-c", "import time; time.sleep(1)"]


def _runtime(url: str, submission_id: str) -> float:
    from ray.job_submission import JobSubmissionClient

    info = JobSubmissionClient(url).get_job_info(submission_id)
    assert info.status.value == "SUCCEEDED", info
    assert info.start_time is not None, info
    assert info.end_time is not None, info
    return (info.end_time - info.start_time) / 1000.0


def via_cli(url: str) -> tuple[float, str]:
    sid = f"bench-cli-{uuid.uuid4().hex[:8]}"
    ray = str(Path(sys.executable).with_name("ray"))
    start = time.perf_counter()
    subprocess.run(
        [ray, "job", "submit", f"--address={url}", f"--submission-id={sid}", "--", *ENTRYPOINT_ARGV],
        check=True, capture_output=True, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )  # fmt: skip
    return time.perf_counter() - start, sid


def via_client(url: str) -> tuple[float, str]:
    from ray.job_submission import JobStatus, JobSubmissionClient

    sid = f"bench-client-{uuid.uuid4().hex[:8]}"
    start = time.perf_counter()
    client = JobSubmissionClient(url)
    client.submit_job(entrypoint=ENTRYPOINT, submission_id=sid)
    while client.get_job_status(sid) not in {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED}:
        time.sleep(1.0)
    return time.perf_counter() - start, sid


def via_provider(url: str) -> tuple[float, str]:
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_provider_kuberay.operators import KubeRaySubmitJobOperator
    from tests.support.airflow_context import FakeTaskInstance, context_for

    sid = f"bench-provider-{uuid.uuid4().hex[:8]}"
    start = time.perf_counter()
    operator = KubeRaySubmitJobOperator(
        task_id="bench", entrypoint=ENTRYPOINT, submission_id=sid, ray_dashboard_conn_id=None,
        dashboard_url=url, deferrable=True, poll_interval=1.0,
    )  # fmt: skip
    context: Any = context_for(FakeTaskInstance())
    try:
        operator.execute(context)
        raise AssertionError("the operator did not defer")
    except TaskDeferred as deferred:
        event = asyncio.run(first_event(deferred.trigger))
        operator.execute_complete(context, event)
    return time.perf_counter() - start, sid


def run() -> list[Row]:
    isolated_airflow_home()
    from devtools.local_ray import LocalRayHead

    head = LocalRayHead(num_cpus=2).start()
    try:
        url = head.dashboard_url
        ways = {"a: ray job submit CLI": via_cli, "b: JobSubmissionClient, 1 s poll": via_client,
                "c: provider operator + trigger, 1 s poll": via_provider}  # fmt: skip
        overhead: dict[str, list[float]] = {name: [] for name in ways}
        for way in ways.values():  # warm-up: imports, first connection
            way(url)
        for _ in range(RUNS):
            for name, way in ways.items():
                total, sid = way(url)
                overhead[name].append(total - _runtime(url, sid))
    finally:
        head.stop()
    a, b, c = (median(overhead[name]) for name in ways)
    names = list(ways)
    return [
        Row("job overhead", f"({names[0]}) start->result minus job runtime", fmt(a, " s"), runs=str(RUNS)),
        Row("job overhead", f"({names[1]})", fmt(b, " s"), runs=str(RUNS)),
        Row("job overhead", f"({names[2]})", fmt(c, " s"), fmt(b, " s") + " (b)", f"{c / b:.2f}x (b), {c / a:.2f}x (a)",
            "<= 1.1x (b) and < (a)", verdict(c <= 1.1 * b and c < a), str(RUNS)),
    ]  # fmt: skip


if __name__ == "__main__":
    for row in run():
        print(row)
