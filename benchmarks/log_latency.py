"""
Log latency: a job prints a timestamped line every 100 ms; the delay of each line is the time it
reaches the task's logger (the trigger's ``self.log``, which the triggerer routes into the Airflow
task log) minus the time printed in it. Two paths: the Jobs API (``RayDashboardJobTrigger`` on a
local Ray head) and the RayJob path on the harness (``RayJobTrigger`` of a K8sJobMode RayJob,
following the job's log through the API server's service proxy to the cluster's dashboard).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
import uuid
from typing import Any

from benchmarks.common import Row, fmt, isolated_airflow_home, percentile, verdict

LINES = 40
RUNS_JOBS_API = 5
RUNS_RAYJOB = 3
PRINTER = (
    f"python -u -c \"import time\nfor i in range({LINES}):\n    print('BENCH-TS', repr(time.time()), flush=True)\n"
    '    time.sleep(0.1)"'
)


_STAMP = re.compile(r"BENCH-TS (\d+\.\d+)")


class _Arrivals(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.delays: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        found = _STAMP.search(record.getMessage())
        if found:
            self.delays.append(record.created - float(found.group(1)))


async def _follow(trigger: Any, handler: _Arrivals) -> dict[str, Any]:
    # The triggerer routes ``trigger.log`` into the task log; a plain logger in its place sees each
    # line at the moment the trigger logs it.
    logger = logging.getLogger(f"bench.task_log.{id(trigger)}")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    trigger._log = logger
    generator = trigger.run()
    try:
        event = await generator.__anext__()
    finally:
        await generator.aclose()
        logger.removeHandler(handler)
    return dict(event.payload)


def jobs_api_path() -> tuple[list[float], int]:
    from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
    from airflow_provider_kuberay.triggers import RayDashboardJobTrigger
    from devtools.local_ray import LocalRayHead

    head = LocalRayHead(num_cpus=2).start()
    handler = _Arrivals()
    try:
        hook = RayDashboardHook(None, dashboard_url=head.dashboard_url)
        for _ in range(RUNS_JOBS_API):
            sid = f"bench-log-{uuid.uuid4().hex[:8]}"
            hook.submit_job(entrypoint=PRINTER, submission_id=sid)
            trigger = RayDashboardJobTrigger(submission_id=sid, dashboard_url=head.dashboard_url, poll_interval=1.0)
            event = asyncio.run(_follow(trigger, handler))
            assert event["outcome"] == "succeeded", event
    finally:
        head.stop()
    return handler.delays, RUNS_JOBS_API


def rayjob_path(kubeconfig: str) -> tuple[list[float], int]:
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_provider_kuberay.operators import (
        KubeRayCreateClusterOperator,
        KubeRayDeleteClusterOperator,
        KubeRayRunJobOperator,
    )
    from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, Resources
    from tests.support.airflow_context import FakeTaskInstance, context_for

    namespace = f"bench-log-{uuid.uuid4().hex[:6]}"
    extra = {"kube_config_path": kubeconfig, "namespace": namespace, "dashboard_access": "proxy"}
    os.environ["AIRFLOW_CONN_KUBERAY_BENCH"] = json.dumps({"conn_type": "kuberay", "extra": extra})
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=kubeconfig)
    client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    cluster = ClusterSpec(image="rayproject/ray:2.52.0", ray_version="2.52.0",
                          head=HeadGroup(resources=Resources(cpu=1, memory="2Gi")), worker_groups=[])  # fmt: skip
    handler = _Arrivals()
    try:
        KubeRayCreateClusterOperator(
            task_id="create", cluster=cluster, cluster_name="bench", kuberay_conn_id="kuberay_bench", deferrable=False
        ).execute(context_for(FakeTaskInstance(task_id="create")))
        for index in range(RUNS_RAYJOB):
            operator = KubeRayRunJobOperator(
                task_id=f"log{index}", entrypoint=PRINTER, cluster_name="bench", kuberay_conn_id="kuberay_bench",
                deferrable=True,
            )  # fmt: skip
            context: Any = context_for(FakeTaskInstance(task_id=f"log{index}", run_id=f"r{uuid.uuid4().hex[:6]}"))
            try:
                operator.execute(context)
                raise AssertionError("the operator did not defer")
            except TaskDeferred as deferred:
                event = asyncio.run(_follow(deferred.trigger, handler))
            operator.execute_complete(context, event)
        KubeRayDeleteClusterOperator(
            task_id="delete", cluster_name="bench", kuberay_conn_id="kuberay_bench", timeout_seconds=180
        ).execute(context_for())
    finally:
        client.CoreV1Api(api).delete_namespace(namespace)
    return handler.delays, RUNS_RAYJOB


def _rows(path: str, delays: list[float], runs: int) -> list[Row]:
    p50, p95 = percentile(delays, 50), percentile(delays, 95)
    complete = f"{len(delays)}/{runs * LINES} lines"
    return [
        Row("log latency", f"{path}: line printed -> task log, p50", fmt(p50, " s"), runs=f"{runs} jobs"),
        Row("log latency", f"{path}: p95 ({complete})", fmt(p95, " s"), goal="p95 < 1 s",
            met=verdict(p95 < 1.0 and len(delays) == runs * LINES), runs=f"{runs} jobs"),
    ]  # fmt: skip


def run(kubeconfig: str | None = None) -> list[Row]:
    isolated_airflow_home()
    rows = _rows("Jobs API (RayDashboardJobTrigger)", *jobs_api_path())
    if kubeconfig is None:
        rows.append(Row("log latency", "RayJob path (RayJobTrigger)", "NOT RUN: no harness/kubeconfig", met="NO"))
    else:
        started = time.monotonic()
        path = "RayJob K8sJobMode (RayJobTrigger, log stream through the API server proxy)"
        rows += _rows(path, *rayjob_path(kubeconfig))
        rows[-1].runs += f", {time.monotonic() - started:.0f} s"
    return rows


if __name__ == "__main__":
    for row in run(os.environ.get("KUBECONFIG")):
        print(row)
