"""
An autoscaled RayCluster with a CPU and a GPU worker group, used by two RayJobs, then deleted.

Creation and deletion are Airflow setup and teardown tasks: the cluster is deleted even when a job
fails (the run still fails), and clearing a job task re-runs the cluster creation with it.

Needs a ``kuberay`` connection named ``kuberay_default`` (a kubeconfig or in-cluster access) to a
Kubernetes cluster that runs the KubeRay operator. The GPU group scales from zero, so the cluster
becomes ready without GPU nodes; work that asks Ray for GPUs (``entrypoint_num_gpus=1``, or
``@ray.remote(num_gpus=1)`` inside the job) makes the autoscaler add a GPU worker.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_kuberay.operators import (
    KubeRayCreateClusterOperator,
    KubeRayDeleteClusterOperator,
    KubeRayRunJobOperator,
)
from airflow_provider_kuberay.specs import Autoscaling, ClusterSpec, HeadGroup, PodOptions, Resources, WorkerGroup

RAY_IMAGE = "rayproject/ray:2.52.0"

CLUSTER = ClusterSpec(
    image=RAY_IMAGE,
    ray_version="2.52.0",
    head=HeadGroup(resources=Resources(cpu=1, memory="4Gi")),
    worker_groups=[
        WorkerGroup("cpu", replicas=1, min_replicas=1, max_replicas=4, resources=Resources(cpu=2, memory="4Gi")),
        WorkerGroup(
            "gpu",
            replicas=0,
            min_replicas=0,
            max_replicas=2,
            image=f"{RAY_IMAGE}-gpu",
            resources=Resources(cpu=4, memory="16Gi", accelerators={"nvidia.com/gpu": 1}),
            pod=PodOptions(tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]),
        ),
    ],
    autoscaling=Autoscaling(idle_timeout_seconds=120),
)

with DAG(
    dag_id="example_kuberay_cluster",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["kuberay", "example"],
):
    create = KubeRayCreateClusterOperator(task_id="create_cluster", cluster=CLUSTER, kuberay_conn_id="kuberay_default")
    cluster_name = "{{ ti.xcom_pull(task_ids='create_cluster', key='cluster_name') }}"

    prepare = KubeRayRunJobOperator(
        task_id="prepare_data",
        cluster_name=cluster_name,
        entrypoint=(
            "python -c 'import ray; ray.init(); square = ray.remote(lambda x: x * x); "
            'print("sum of squares:", sum(ray.get([square.remote(i) for i in range(100)])))\''
        ),
    )
    report = KubeRayRunJobOperator(
        task_id="report_resources",
        cluster_name=cluster_name,
        entrypoint='python -c \'import ray; ray.init(); print("GPUs now:", ray.cluster_resources().get("GPU", 0))\'',
    )
    delete = KubeRayDeleteClusterOperator(task_id="delete_cluster", cluster_name=cluster_name)

    create.as_setup() >> prepare >> report >> delete.as_teardown(setups=create)
