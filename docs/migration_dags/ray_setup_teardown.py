"""
The shape of astro-provider-ray's setup/teardown example on this provider: create a RayCluster
from a YAML file, submit a script to it through the Jobs API, delete the cluster in a teardown.

astro's ``SetupRayCluster`` also installed the KubeRay operator with Helm and waited for a
LoadBalancer; here the operator is installed once by the platform, and the dashboard is reached
through the API server's proxy (the ``kuberay`` connection's ``dashboard_access``), so neither is
needed. Needs a ``kuberay`` connection ``kuberay_default``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG

from airflow_provider_kuberay.operators import (
    KubeRayCreateClusterOperator,
    KubeRayDeleteClusterOperator,
    KubeRaySubmitJobOperator,
)

SCRIPTS = Path(__file__).parent / "ray_scripts"

with DAG("migrated_setup_teardown", start_date=datetime(2025, 1, 1), schedule=None, catchup=False, tags=["ray"]):
    # astro: SetupRayCluster(task_id=..., conn_id=CONN_ID, ray_cluster_yaml="<path>/ray.yaml", update_if_exists=False)
    # The RayCluster YAML next to this file, found like any template file.
    setup_cluster = KubeRayCreateClusterOperator(task_id="setup_cluster", cluster="ray.yaml")
    cluster_name = "{{ ti.xcom_pull(task_ids='setup_cluster', key='cluster_name') }}"
    # astro: SubmitRayJob(conn_id=CONN_ID, entrypoint=..., runtime_env=..., num_cpus=1,
    #        xcom_task_key="SetupRayCluster.dashboard", job_timeout_seconds=600, poll_interval=5)
    submit_ray_job = KubeRaySubmitJobOperator(
        task_id="submit_ray_job",
        cluster_name=cluster_name,
        entrypoint="python script.py",
        runtime_env={"working_dir": str(SCRIPTS)},
        entrypoint_num_cpus=1,
        poll_interval=5,
    )
    # astro: DeleteRayCluster(task_id=..., conn_id=CONN_ID, ray_cluster_yaml="<path>/ray.yaml")
    delete_cluster = KubeRayDeleteClusterOperator(task_id="delete_cluster", cluster_name=cluster_name)

    setup_cluster.as_setup() >> submit_ray_job >> delete_cluster.as_teardown(setups=setup_cluster)
