"""
The deploy tier's RayJob DAG: a deferred ``KubeRayRunJobOperator`` task whose Ray job prints numbered
lines for a while (``ray_scripts/numbered_lines.py``; run ``conf``: ``lines``, ``interval``,
``release_file``, ``release_after``), on a new RayCluster of the Kubernetes harness.

Its ``kuberay_deploy`` connection is made over REST by the test that runs it. The cluster's Ray pods
are stand-ins for the harness's one local Ray head (``harness.kuberay.io/pods: stand-in``): no Ray
starts per run, and the job's script is read from this folder on the machine that runs the tests.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG

from airflow_provider_kuberay.operators import KubeRayRunJobOperator
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, PodOptions, Resources

SCRIPT = Path(__file__).parent / "ray_scripts" / "numbered_lines.py"

with DAG(
    dag_id="deploy_rayjob_numbered_lines",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={"lines": 40, "interval": 0.5, "release_file": "", "release_after": -1},
    tags=["deploy-tier"],
):
    KubeRayRunJobOperator(
        task_id="numbered_lines",
        entrypoint=f"python {SCRIPT} --lines {{{{ params.lines }}}} --interval {{{{ params.interval }}}}"
        " --release-file '{{ params.release_file }}' --release-after {{ params.release_after }}",
        cluster=ClusterSpec(
            image="rayproject/ray:2.52.0",
            ray_version="2.52.0",
            head=HeadGroup(
                resources=Resources(cpu=1, memory="2Gi"),
                pod=PodOptions(annotations={"harness.kuberay.io/pods": "stand-in"}),
            ),
        ),
        kuberay_conn_id="kuberay_deploy",
        deferrable=True,
        resync_interval=2.0,
    )
