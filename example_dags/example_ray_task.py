"""
Run Python functions as jobs on an existing Ray cluster with ``@task.ray``; their return values
are the tasks' XComs.

Needs a ``ray_dashboard`` connection named ``ray_dashboard_default`` whose host is the dashboard
URL, e.g. ``AIRFLOW_CONN_RAY_DASHBOARD_DEFAULT='{"conn_type": "ray_dashboard", "host":
"http://127.0.0.1:8265"}'``. ``make demo`` starts a local Ray head and sets it for you.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

with DAG(
    dag_id="example_ray_task",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["kuberay", "example"],
):

    @task
    def make_values() -> list[float]:
        return [float(i) for i in range(1, 101)]

    @task.ray(ray_dashboard_conn_id="ray_dashboard_default", entrypoint_num_cpus=0.5, poll_interval=1.0)
    def mean_on_ray(values: list[float], chunks: int = 4) -> dict:
        # Runs on the Ray cluster: imports go inside the function.
        import ray

        ray.init()

        @ray.remote
        def partial_sum(part: list[float]) -> float:
            return sum(part)

        size = -(-len(values) // chunks)
        parts = [values[i : i + size] for i in range(0, len(values), size)]
        total = sum(ray.get([partial_sum.remote(part) for part in parts]))
        return {"mean": total / len(values), "n": len(values)}

    @task
    def report(summary: dict) -> float:
        print(f"mean of {summary['n']} values computed on Ray: {summary['mean']}")
        return summary["mean"]

    report(mean_on_ray(make_values()))
