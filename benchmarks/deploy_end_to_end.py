"""
One deferrable job, end to end, in a real Airflow deployment: the deploy tier's (Postgres, API
server, scheduler, DAG processor, two triggerers, LocalExecutor; ``tests/deploy/deployment.py``)
against a local Ray head, running the tier's ``deploy_numbered_lines`` DAG (a deferrable
``KubeRaySubmitJobOperator`` whose job prints a few lines, then a downstream task).

Each step is timed from timestamps the deployment itself records, read back over REST: the DAG
run's ``queued_at``, the task instance's ``queued_when`` and ``end_date``, the timestamps of the
task log's entries (the worker's lines and the trigger's lines, which the triggerer writes into the
same log), and Ray's own ``start_time``/``end_time`` of the job. ``STEPS`` names, for each step,
the Airflow settings (from Airflow's configuration reference) or provider parameters that govern it.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import Row, fmt, median

RUNS = int(os.environ.get("BENCH_E2E_RUNS", "4"))
DAG_ID, TASK_ID = "deploy_numbered_lines", "numbered_lines"
# 30 lines 0.5 s apart: the job runs ~15 s, longer than the way to a running trigger, so the
# steps come in their natural order (a job that ends first shows as a negative step).
CONF = {"lines": 30, "interval": 0.5, "release_file": ""}
# A Ray dashboard to use instead of starting a local head (e.g. the harness's, on a loaded machine
# where a new head misses Ray's fixed 30 s raylet start deadline).
RAY_DASHBOARD = os.environ.get("BENCH_E2E_RAY_DASHBOARD", "")
# Where the raw REST answers of each run go when set (to check what the points are read from).
DUMP = os.environ.get("BENCH_E2E_DUMP", "")


@dataclass(frozen=True)
class Step:
    """One step of the job's way through Airflow: the points that bound it, and what governs it."""

    name: str
    start: str
    end: str
    governed_by: str


# The points are read by ``_points``; the settings are Airflow 3's (``airflow config list``; the
# configuration reference), their defaults in brackets, this deployment's value where it differs.
STEPS = (
    Step("run created -> task start", "run created", "task running",
         "[scheduler] scheduler_idle_sleep_time (1 s), max_tis_per_query (16); [core] parallelism (32; 4 here); "
         "the DAG must be parsed first: [dag_processor] refresh_interval (300 s; 30 here), min_file_process_interval "
         "(30 s)"),
    Step("task start -> DAG parsed in the task process", "task running", "task parsed",
         "none (the worker imports Airflow and parses the DAG file; [core] dagbag_import_timeout only bounds it)"),
    Step("DAG parsed -> job submitted", "task parsed", "submitted",
         "none in Airflow: the operator uploads working_dir and submits through the Ray Jobs API"),
    Step("submitted -> deferred", "submitted", "deferred",
         "none: the operator builds its trigger and raises TaskDeferred; the worker reports it to the "
         "Execution API ([core] execution_api_server_url)"),
    Step("deferred -> trigger running", "deferred", "trigger running",
         "[triggerer] capacity (1000); the triggerer loop (waits <= 1 s per turn, fixed); only triggerers "
         "that heartbeat ([triggerer] job_heartbeat_sec, 5 s) within triggerer_health_check_threshold (30 s) "
         "take triggers"),
    Step("trigger running -> job end (Ray end_time)", "trigger running", "job end",
         "the job itself (Ray); no Airflow setting"),
    Step("job end (or trigger start, if later) -> trigger event", "job end seen from", "trigger event",
         "none when Ray signals the end (the supervisor log the trigger follows); else the operator's "
         "poll_interval (5 s default; 1 s in this DAG)"),
    Step("trigger event -> task scheduled again", "trigger event", "scheduled again",
         "the triggerer loop (<= 1 s per turn) writes the event and reschedules the task"),
    Step("scheduled -> queued again", "scheduled again", "queued again",
         "[scheduler] scheduler_idle_sleep_time (1 s), max_tis_per_query (16)"),
    Step("queued -> task resumed", "queued again", "task resumed",
         "[core] parallelism (LocalExecutor worker processes; 4 here)"),
    Step("task resumed -> success", "task resumed", "success",
         "none: a new task process parses the DAG again, runs execute_complete and pushes XComs"),
)  # fmt: skip


def _iso(text: str | None) -> float | None:
    """An ISO 8601 timestamp from Airflow as Unix time."""
    if not text:
        return None
    return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


def _first(entries: list[tuple[float, str]], test: Callable[[str], bool], after: float = 0.0) -> float | None:
    return next((when for when, event in entries if when >= after and test(event)), None)


def _points(raw: dict[str, Any]) -> dict[str, float | None]:
    """The timeline of one run, as Unix times, from the run, the task instance, its log and Ray's job."""
    entries = sorted(
        (when, str(entry.get("event", "")))
        for entry in raw["log"]
        if isinstance(entry, dict) and (when := _iso(entry.get("timestamp"))) is not None
    )
    fired = _first(entries, lambda e: e == "Trigger fired event")
    points = {
        "run created": _iso(raw["dag_run"]["queued_at"]),
        "task running": _iso(raw["ti"]["start_date"]),
        "task parsed": _first(entries, lambda e: e == "Worker startup parse complete"),
        "submitted": _first(entries, lambda e: e.startswith("Submitted Ray job")),
        "deferred": _first(entries, lambda e: e.startswith("Pausing task as DEFERRED")),
        "trigger running": _first(entries, lambda e: e.startswith("trigger ") and e.endswith(" starting")),
        "job start": raw["ray"]["start_time"] / 1000,
        "job end": raw["ray"]["end_time"] / 1000,
        "trigger event": fired,
        # The resumed try overwrites these two (the first ones are gone).
        "scheduled again": _iso(raw["ti"]["scheduled_when"]),
        "queued again": _iso(raw["ti"]["queued_when"]),
        "task resumed": _first(entries, lambda e: e == "::group::Pre Execute", after=fired or float("inf")),
        "success": _iso(raw["ti"]["end_date"]),
    }
    # Detection starts when both the job has ended and the trigger runs.
    points["job end seen from"] = max(points["job end"] or 0.0, points["trigger running"] or 0.0) or None
    return points


def _durations(points: dict[str, float | None]) -> dict[str, float]:
    out = {}
    for step in STEPS:
        start, end = points[step.start], points[step.end]
        out[step.name] = float("nan") if start is None or end is None else end - start
    total_start, total_end = points["run created"], points["success"]
    job_start, job_end = points["job start"], points["job end"]
    if None not in (total_start, total_end, job_start, job_end):
        out["total"] = total_end - total_start  # type: ignore[operator]
        out["job"] = job_end - job_start  # type: ignore[operator]
    return out


def _one_run(deployment: Any, dashboard_url: str) -> dict[str, Any]:
    import requests

    rest = deployment.rest
    run_id = rest.trigger(DAG_ID, CONF)
    rest.wait_for_run(DAG_ID, run_id, 300.0)
    raw: dict[str, Any] = {"dag_run": rest.dag_run(DAG_ID, run_id), "ti": rest.task_instance(DAG_ID, run_id, TASK_ID)}
    if raw["dag_run"]["state"] != "success":
        raise RuntimeError(f"run {run_id} ended {raw['dag_run']['state']}: {rest.task_states(DAG_ID, run_id)}")
    path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{TASK_ID}/logs/1"
    raw["log"] = rest.get(path, params={"full_content": "true"}, headers={"Accept": "application/json"})["content"]
    submission_id = rest.xcom(DAG_ID, run_id, TASK_ID, "return_value")
    raw["ray"] = requests.get(f"{dashboard_url}/api/jobs/{submission_id}", timeout=30).json()
    return raw


def run() -> list[Row]:
    from devtools.local_ray import LocalRayHead
    from tests.deploy.deployment import AirflowDeployment

    workdir = Path(tempfile.mkdtemp(prefix="kuberay-bench-e2e-"))
    head = None if RAY_DASHBOARD else LocalRayHead(num_cpus=2, attempts=3).start()
    dashboard_url = RAY_DASHBOARD or (head.dashboard_url if head else "")
    deployment = AirflowDeployment(workdir)
    runs: list[dict[str, float]] = []
    loads: list[str] = []
    try:
        deployment.start()
        connection = {"connection_id": "ray_dashboard_default", "conn_type": "ray_dashboard",
                      "host": dashboard_url}  # fmt: skip
        deployment.rest.request("POST", "/connections", expect=201, json=connection)
        for index in range(RUNS):
            loads.append(f"{os.getloadavg()[0]:.1f}")
            raw = _one_run(deployment, dashboard_url)
            if DUMP:
                Path(f"{DUMP}.{index}.json").write_text(json.dumps(raw, indent=1, default=str))
            runs.append(_durations(_points(raw)))
            print(f"  end to end: run {index + 1}/{RUNS} done", file=sys.stderr, flush=True)
    finally:
        deployment.stop()
        if head is not None:
            head.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return _rows(runs, loads)


def _rows(runs: list[dict[str, float]], loads: list[str]) -> list[Row]:
    """Each step: the median of the warm runs (the first run imports the provider in each process)."""
    name = "end to end (deployment)"
    warm = runs[1:] or runs
    count = f"{len(warm)} (+1 first run)" if len(runs) > 1 else "1"

    def value(key: str) -> str:
        first = runs[0].get(key, float("nan"))
        return f"{fmt(median([r.get(key, float('nan')) for r in warm]), ' s')} (first run {fmt(first, ' s')})"

    rows = [Row(name, f"{step.name} | governed by: {step.governed_by}", value(step.name), runs=count)
            for step in STEPS]  # fmt: skip
    rows.append(Row(name, "total: run created -> success", value("total"), runs=count))
    rows.append(Row(name, "of which the job's own run (Ray end_time - start_time)", value("job"), runs=count))
    rows.append(Row(name, "load average (1 min) before each run", " / ".join(loads)))
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
