"""
A one-shot RayJob on its own cluster: KubeRay creates the cluster, runs the job, and deletes the
cluster five minutes after the job ends. The job's output streams into the task log.

Needs a ``kuberay`` connection named ``kuberay_default``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_provider_kuberay.operators import KubeRayRunJobOperator
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, Resources, WorkerGroup

with DAG(
    dag_id="example_kuberay_run_job",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["kuberay", "example"],
):
    run = KubeRayRunJobOperator(
        task_id="count_words",
        entrypoint="python -c 'import ray; ray.init(); print(\"cluster resources:\", ray.cluster_resources())'",
        cluster=ClusterSpec(
            image="rayproject/ray:2.52.0",
            ray_version="2.52.0",
            head=HeadGroup(resources=Resources(cpu=1, memory="2Gi")),
            worker_groups=[WorkerGroup("workers", replicas=1, resources=Resources(cpu=1, memory="2Gi"))],
        ),
        kuberay_conn_id="kuberay_default",
        active_deadline_seconds=3600,
        # Fail early, with KubeRay's reason, if the cluster cannot be scheduled within 15 minutes.
        pre_running_deadline_seconds=900,
        labels={"app.kubernetes.io/part-of": "word-count"},
    )

    @task
    def report(summary: dict) -> None:
        where = f"{summary['namespace']}/{summary['name']}"
        print(f"RayJob {where}: {summary['job_status']} on cluster {summary['ray_cluster_name']}")

    report(run.output)
