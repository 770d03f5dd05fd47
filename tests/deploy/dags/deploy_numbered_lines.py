"""
The deploy tier's DAG: a deferred Jobs-API task whose Ray job prints numbered lines for a while,
then a downstream task the scheduler must still run (after a restart, say).

Its run ``conf`` sets ``lines`` and ``interval``, and ``release_file``: a path on this machine that
the job waits for after its lines (none by default), so a test decides when the job ends; or before
line ``release_after``, so the job is quiet mid-way.

``deploy_numbered_lines_rerun`` is the same DAG with ``reattach_on_clear=False``: a cleared task
submits a new job instead of following its earlier one.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, task

from airflow_provider_kuberay.operators import KubeRaySubmitJobOperator

for dag_id, reattach_on_clear in (("deploy_numbered_lines", True), ("deploy_numbered_lines_rerun", False)):
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        params={"lines": 40, "interval": 0.5, "release_file": "", "release_after": -1},
        tags=["deploy-tier"],
    ):
        job = KubeRaySubmitJobOperator(
            task_id="numbered_lines",
            entrypoint="python numbered_lines.py --lines {{ params.lines }} --interval {{ params.interval }}"
            " --release-file '{{ params.release_file }}' --release-after {{ params.release_after }}",
            runtime_env={"working_dir": str(Path(__file__).parent / "ray_scripts")},
            entrypoint_num_cpus=0.25,
            ray_dashboard_conn_id="ray_dashboard_default",
            deferrable=True,
            poll_interval=1.0,
            reattach_on_clear=reattach_on_clear,
        )

        @task
        def after(submission_id: str) -> str:
            return submission_id

        after(job.output)  # type: ignore[arg-type]
