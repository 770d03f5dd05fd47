"""
OpenLineage on a real Airflow with the OpenLineage provider enabled (a file transport), against the
real local Ray head: the task's events carry the ``kuberay`` run facet, and the Ray job got the
task's run as its OpenLineage parent.

Each DAG runs in a fresh Python process: the provider reads its configuration once per process (and
loads its listener with Airflow's plugins), so the rest of the session keeps OpenLineage off.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import DAGS_FOLDER, ROOT

pytestmark = [pytest.mark.airflow, pytest.mark.ray]

NAMESPACE = "kuberay-lineage-test"
RUN_TIMEOUT = 240

DAG_FILE = """
from datetime import datetime
from airflow.sdk import DAG
from airflow_provider_kuberay.operators import KubeRaySubmitJobOperator

with DAG(dag_id="{dag_id}", schedule=None, start_date=datetime(2025, 1, 1)):
    KubeRaySubmitJobOperator(
        task_id="job",
        entrypoint={entrypoint!r},
        runtime_env={runtime_env!r},
        poll_interval=0.5,
        deferrable={deferrable},
    )
"""

SHOW_PARENT = (
    "python -c \"import os; print('PARENT=' + os.environ.get('OPENLINEAGE_PARENT_ID', '<none>'));"
    " print('ROOT=' + os.environ.get('OPENLINEAGE_ROOT_PARENT_ID', '<none>'));"
    " print('OWN=' + os.environ.get('OWN', '<none>')); raise SystemExit(int(os.environ.get('EXIT', '0')))\""
)

RUN_DAG = """
import json, sys
from datetime import datetime, timezone
from pathlib import Path
from tests.support.airflow_runs import load_dag, task_states, xcom

dag = load_dag(Path(sys.argv[1]), sys.argv[2])
run = dag.test(logical_date=datetime.now(timezone.utc))
print("RESULT=" + json.dumps({"states": task_states(run), "submission_id": xcom(run, "job", "return_value")}))
"""


def _run_with_lineage(tmp_path: Path, dag_id: str, dashboard_url: str, **dag: Any) -> tuple[dict[str, Any], list]:
    """Run the DAG with OpenLineage on (file transport); its result and the events written."""
    path = DAGS_FOLDER / f"{dag_id}.py"
    path.write_text(DAG_FILE.format(dag_id=dag_id, entrypoint=SHOW_PARENT, **dag))
    events_file = tmp_path / "events.jsonl"
    env = {
        **os.environ,
        "AIRFLOW_CONN_RAY_DASHBOARD_DEFAULT": json.dumps({"conn_type": "ray_dashboard", "host": dashboard_url}),
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": NAMESPACE,
        "PYTHONPATH": str(ROOT),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(RUN_DAG), str(path), dag_id],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    finally:
        path.unlink()
    results = [line for line in done.stdout.splitlines() if line.startswith("RESULT=")]
    output = f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    assert results, f"the DAG run printed no result (exit {done.returncode}):\n{output}"
    events = [json.loads(line) for line in events_file.read_text().splitlines()] if events_file.exists() else []
    return json.loads(results[-1].removeprefix("RESULT=")), events


def _task_events(events: list[dict[str, Any]], dag_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e["job"]["name"] == f"{dag_id}.job"]


def _job_log(dashboard_url: str, submission_id: str) -> str:
    response = requests.get(f"{dashboard_url}/api/jobs/{submission_id}/logs", timeout=30)
    response.raise_for_status()
    return str(response.json()["logs"])


def test_submit_job_events_carry_the_ray_job_and_the_job_gets_the_parent_run(
    airflow_db: None, ray_head: Any, tmp_path: Path
) -> None:
    # Deferred: the end event comes from the operator that resumed after the trigger (the failure test
    # below waits in the worker).
    dag_id = "lineage_submit_deferred"
    result, events = _run_with_lineage(
        tmp_path, dag_id, ray_head.dashboard_url, runtime_env={"env_vars": {"OWN": "kept"}}, deferrable=True
    )
    assert result["states"] == {"job": "success"}
    submission_id = result["submission_id"]
    assert submission_id.startswith(f"airflow-{dag_id}.job-")

    task_events = _task_events(events, dag_id)
    types = [e["eventType"] for e in task_events]
    assert "START" in types, types
    assert types[-1] == "COMPLETE", types
    for event in task_events:
        facet = event["run"]["facets"]["kuberay"]
        assert facet["submissionId"] == submission_id, event["eventType"]
        assert facet["dashboardUrl"] == ray_head.dashboard_url, event["eventType"]
        assert facet["_schemaURL"].endswith("KubeRayRunFacet:1-0-0")
        assert event["run"]["facets"]["externalQuery"] == {
            **event["run"]["facets"]["externalQuery"],
            "externalQueryId": submission_id,
            "source": "ray",
        }
    assert task_events[-1]["run"]["facets"]["kuberay"]["status"] == "SUCCEEDED"

    # Inside the Ray job: the task's OpenLineage run is the parent, its DAG run the root; the user's env stays.
    run_id = task_events[-1]["run"]["runId"]
    root = task_events[-1]["run"]["facets"]["parent"]["root"]
    log = _job_log(ray_head.dashboard_url, submission_id)
    assert f"PARENT={NAMESPACE}/{dag_id}.job/{run_id}" in log, log
    assert f"ROOT={root['job']['namespace']}/{root['job']['name']}/{root['run']['runId']}" in log, log
    assert "OWN=kept" in log, log


def test_a_failed_job_fails_with_its_facet_and_a_parent_set_by_the_user_is_kept(
    airflow_db: None, ray_head: Any, tmp_path: Path
) -> None:
    dag_id = "lineage_submit_fails"
    mine = "their-namespace/their-job/01890000-0000-7000-8000-000000000000"
    runtime_env = {"env_vars": {"OPENLINEAGE_PARENT_ID": mine, "EXIT": "3"}}
    result, events = _run_with_lineage(
        tmp_path, dag_id, ray_head.dashboard_url, runtime_env=runtime_env, deferrable=False
    )
    assert result["states"] == {"job": "failed"}
    task_events = _task_events(events, dag_id)
    assert task_events[-1]["eventType"] == "FAIL"
    facet = task_events[-1]["run"]["facets"]["kuberay"]
    assert facet["status"] == "FAILED"
    submission_id = facet["submissionId"]
    log = _job_log(ray_head.dashboard_url, submission_id)
    # The user chose the parent: none of the parent variables was added.
    assert f"PARENT={mine}" in log, log
    assert "ROOT=<none>" in log, log
