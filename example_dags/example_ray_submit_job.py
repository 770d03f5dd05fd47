"""
Submit a real Ray program to an existing Ray cluster through the Ray Jobs API, then read the
operator's XComs in a downstream task.

Needs a ``ray_dashboard`` connection named ``ray_dashboard_default`` whose host is the dashboard
URL, e.g. ``AIRFLOW_CONN_RAY_DASHBOARD_DEFAULT='{"conn_type": "ray_dashboard", "host":
"http://127.0.0.1:8265"}'``. ``make demo`` starts a local Ray head and sets it for you.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, task

from airflow_provider_kuberay.operators import KubeRaySubmitJobOperator

# Shipped to the cluster as the job's working_dir (uploaded by the operator).
RAY_SCRIPTS = Path(__file__).parent / "ray_scripts"

with DAG(
    dag_id="example_ray_submit_job",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["kuberay", "example"],
    params={"words": "ray airflow kuberay kubernetes deferral triggerer"},
):
    fan_out_and_gather = KubeRaySubmitJobOperator(
        task_id="fan_out_and_gather",
        entrypoint="python fan_out_gather.py --words '{{ params.words }}'",
        runtime_env={"working_dir": str(RAY_SCRIPTS), "env_vars": {"DEMO_RUN_ID": "{{ run_id }}"}},
        entrypoint_num_cpus=0.5,
        metadata={"example": "fan_out_gather"},
        ray_dashboard_conn_id="ray_dashboard_default",
        poll_interval=1.0,
    )

    @task
    def report(submission_id: str, ti=None) -> dict:  # type: ignore[no-untyped-def]
        """Read what the submit task left in XCom."""
        summary = {
            "submission_id": submission_id,
            "dashboard_url": ti.xcom_pull(task_ids="fan_out_and_gather", key="dashboard_url"),
            "job_status": ti.xcom_pull(task_ids="fan_out_and_gather", key="job_status"),
        }
        if summary["job_status"] != "SUCCEEDED":
            raise ValueError(f"unexpected job status in XCom: {summary}")
        print(f"Ray job {submission_id} {summary['job_status']}; dashboard: {summary['dashboard_url']}")
        return summary

    report(fan_out_and_gather.output)
