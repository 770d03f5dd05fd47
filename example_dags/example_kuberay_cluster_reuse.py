"""
One long-lived RayCluster shared by the runs of a daily DAG, and an hourly DAG that deletes it once
it has expired and the run that last used it has ended.

Each run of ``example_kuberay_cluster_reuse`` reuses the cluster ``nightly-features`` when the
previous run left it with the same spec (``if_exists="reuse"``), or creates it; a changed spec
fails the run with a message naming the cluster (set ``if_exists="replace"`` to recreate it).
Every reuse pushes the cluster's expiry 6 hours forward. ``example_kuberay_expire_clusters`` deletes
only clusters this provider created with an expiry; anything else in the namespace is left alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_kuberay.operators import (
    KubeRayCreateClusterOperator,
    KubeRayDeleteExpiredClustersOperator,
    KubeRayRunJobOperator,
)
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, Resources, WorkerGroup

CLUSTER = ClusterSpec(
    image="rayproject/ray:2.52.0",
    ray_version="2.52.0",
    head=HeadGroup(resources=Resources(cpu=1, memory="4Gi")),
    worker_groups=[WorkerGroup("cpu", replicas=1, min_replicas=0, max_replicas=4, resources=Resources(cpu=2))],
)

with DAG(
    dag_id="example_kuberay_cluster_reuse",
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["kuberay", "example"],
):
    cluster = KubeRayCreateClusterOperator(
        task_id="cluster",
        cluster=CLUSTER,
        cluster_name="nightly-features",
        if_exists="reuse",
        cluster_ttl=timedelta(hours=6),
    )
    features = KubeRayRunJobOperator(
        task_id="features",
        cluster_name="nightly-features",
        entrypoint="python -c 'import ray; ray.init(); print(ray.cluster_resources())'",
    )
    cluster >> features

with DAG(
    dag_id="example_kuberay_expire_clusters",
    schedule="@hourly",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["kuberay", "example"],
):
    KubeRayDeleteExpiredClustersOperator(task_id="delete_expired_clusters")
