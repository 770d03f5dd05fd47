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
from pathlib import Path

from devtools.local_ray import LocalRayHead

ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "example_ray_submit_job"


def _airflow(*args: str, env: dict[str, str], capture: bool = False) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("airflow")), *args]
    return subprocess.run(command, env=env, text=True, capture_output=capture, check=False)


def _json_output(stdout: str) -> list[dict[str, str]]:
    # The CLI may print log lines before its JSON answer.
    for line in stdout.splitlines():
        if line.startswith("["):
            return list(json.loads(line))
    return []


def airflow_env(home: Path, dashboard_url: str) -> dict[str, str]:
    """Environment of an isolated Airflow on SQLite with the example DAGs and the local head's connection."""
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
        "AIRFLOW_CONN_RAY_DASHBOARD_DEFAULT": json.dumps({"conn_type": "ray_dashboard", "host": dashboard_url}),
    }


def main() -> int:
    started = time.monotonic()
    home = ROOT / ".demo" / "airflow-home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    print("== starting a local Ray head on 127.0.0.1", flush=True)
    with LocalRayHead() as head:
        exposed = head.non_loopback_listeners()
        print(f"== Ray dashboard at {head.dashboard_url}; listeners off loopback: {exposed or 'none'}", flush=True)
        if exposed:
            return 1
        env = airflow_env(home, head.dashboard_url)
        if _airflow("db", "migrate", env=env, capture=True).returncode != 0:
            print("airflow db migrate failed", file=sys.stderr)
            return 1
        print(f"== airflow dags test {DAG_ID} (deferrable operators)", flush=True)
        test = _airflow("dags", "test", DAG_ID, env=env)
        runs = _json_output(_airflow("dags", "list-runs", DAG_ID, "-o", "json", env=env, capture=True).stdout)
        if not runs:
            print("no DAG run was recorded", file=sys.stderr)
            return 1
        run = runs[0]
        print(f"== DAG run {run['run_id']}: {run['state']}", flush=True)
        _airflow("tasks", "states-for-dag-run", DAG_ID, run["run_id"], "-o", "table", env=env)
    print(f"== Ray stopped; demo took {time.monotonic() - started:.0f}s", flush=True)
    return 0 if test.returncode == 0 and run["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
