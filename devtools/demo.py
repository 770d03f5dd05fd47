"""
``make demo``: run the example DAG end to end on a local Ray head, deferral included.

Starts a Ray head on 127.0.0.1, points a ``ray_dashboard`` connection at it, runs
``airflow dags test example_ray_submit_job`` on a fresh SQLite Airflow home, prints the task
states, stops Ray, and exits non-zero if anything failed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devtools.local_ray import LocalRayHead

ROOT = Path(__file__).resolve().parents[1]


def _airflow(*args: str, env: dict[str, str], capture: bool = False) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("airflow")), *args]
    return subprocess.run(command, env=env, text=True, capture_output=capture, check=False)


def _json_output(stdout: str) -> list[dict[str, str]]:
    # The CLI may print log lines before its JSON answer.
    for line in stdout.splitlines():
        if line.startswith("["):
            return list(json.loads(line))
    return []


def run_example_dag(dag_id: str, connections: Mapping[str, Mapping[str, Any]]) -> bool:
    """
    Run one example DAG with ``airflow dags test`` (deferrable operators) on a fresh SQLite Airflow
    home, print its task states, and tell whether the run succeeded.

    :param connections: Airflow connections by id, set as ``AIRFLOW_CONN_*`` variables.
    """
    home = ROOT / ".demo" / "airflow-home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
        **{f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn) for conn_id, conn in connections.items()},
    }
    if _airflow("db", "migrate", env=env, capture=True).returncode != 0:
        print("airflow db migrate failed", file=sys.stderr)
        return False
    print(f"== airflow dags test {dag_id} (deferrable operators)", flush=True)
    test = _airflow("dags", "test", dag_id, env=env)
    runs = _json_output(_airflow("dags", "list-runs", dag_id, "-o", "json", env=env, capture=True).stdout)
    if not runs:
        print("no DAG run was recorded", file=sys.stderr)
        return False
    run = runs[0]
    print(f"== DAG run {run['run_id']}: {run['state']}", flush=True)
    _airflow("tasks", "states-for-dag-run", dag_id, run["run_id"], "-o", "table", env=env)
    return test.returncode == 0 and run["state"] == "success"


def main() -> int:
    started = time.monotonic()
    print("== starting a local Ray head on 127.0.0.1", flush=True)
    with LocalRayHead() as head:
        exposed = head.non_loopback_listeners()
        print(f"== Ray dashboard at {head.dashboard_url}; listeners off loopback: {exposed or 'none'}", flush=True)
        if exposed:
            return 1
        connection = {"conn_type": "ray_dashboard", "host": head.dashboard_url}
        ok = run_example_dag("example_ray_submit_job", {"ray_dashboard_default": connection})
    print(f"== Ray stopped; demo took {time.monotonic() - started:.0f}s", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
