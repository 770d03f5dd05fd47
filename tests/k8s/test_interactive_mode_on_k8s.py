"""
InteractiveMode on the real control plane and KubeRay operator (v1.6.2): the task waits for the
RayJob's ``Waiting``, submits local code (a ``working_dir`` zipped and uploaded through the API
server's service proxy) under its own submission id, KubeRay follows the job once ``spec.jobId``
names it, and a retry after the submission follows that job instead of submitting a second one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from k8s_support import provider_cluster, task_instance

from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
from airflow_provider_kuberay.operators import KubeRayRunJobOperator
from airflow_provider_kuberay.tasks.deferral import run_trigger_in_worker
from airflow_provider_kuberay.tasks.identity import submission_id_for
from tests.support.airflow_context import context_for
from tests.support.airflow_exceptions import TaskDeferred

pytestmark = pytest.mark.k8s

ENTRYPOINT = "python main.py"


@pytest.fixture
def local_code(tmp_path: Path) -> Path:
    """A directory of code that exists only on the Airflow side: no image has it."""
    (tmp_path / "helper.py").write_text("def greeting():\n    return 'hello from local code'\n")
    (tmp_path / "main.py").write_text(
        "import ray\nfrom helper import greeting\n\n"
        "ray.init()\nprint(greeting(), ray.get(ray.remote(lambda: 6 * 7).remote()))\n"
    )
    return tmp_path


def _interactive(task_id: str, local_code: Path, **kwargs: Any) -> KubeRayRunJobOperator:
    return KubeRayRunJobOperator(
        task_id=task_id,
        entrypoint=ENTRYPOINT,
        cluster=provider_cluster(),
        submission_mode="InteractiveMode",
        runtime_env={"working_dir": str(local_code)},
        resync_interval=1,
        **kwargs,
    )


def _cleanup(name: str, namespace: str) -> None:
    hook = KubeRayHook()
    hook.delete_object("RayJob", name, namespace)
    hook.wait_until_deleted("RayJob", name, namespace, timeout=90)


def test_local_code_runs_on_a_fresh_cluster_without_an_image(
    kuberay_conn: str, local_code: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ti = task_instance("interactive")
    try:
        summary = _interactive(ti.task_id, local_code, deferrable=False).execute(context_for(ti))
        submission_id = submission_id_for(ti.dag_id, ti.task_id, ti.run_id, ti.map_index)
        assert (summary["job_deployment_status"], summary["job_status"]) == ("Complete", "SUCCEEDED")
        assert summary["job_id"] == submission_id
        out = capsys.readouterr().out
        assert "Uploading working_dir" in out
        assert f"Submitted Ray job {submission_id}: {ENTRYPOINT}" in out
        assert "[ray] hello from local code 42" in out
        stored = KubeRayHook().get_object("RayJob", summary["name"], kuberay_conn)
        assert stored["spec"]["jobId"] == submission_id
    finally:
        if "name" in ti.xcoms:
            _cleanup(str(ti.xcoms["name"]), kuberay_conn)


def test_a_retry_after_the_submission_follows_the_same_job(
    kuberay_conn: str, local_code: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = task_instance("interactive_retry")
    name = ""
    try:
        # Try 1, deferred: create the RayJob; the trigger reports Waiting; the task submits the job
        # and defers again -- then its worker is gone, as if killed.
        with pytest.raises(TaskDeferred) as deferred:
            _interactive(first.task_id, local_code, deferrable=True).execute(context_for(first))
        name = str(first.xcoms["name"])
        waiting = run_trigger_in_worker(deferred.value.trigger)
        assert waiting["outcome"] == "waiting", waiting
        with pytest.raises(TaskDeferred):
            _interactive(first.task_id, local_code, deferrable=True).execute_complete(context_for(first), waiting)
        capsys.readouterr()
        # Try 2 of the same task instance adopts the RayJob and follows the job try 1 submitted.
        retry = task_instance("interactive_retry", try_number=2, run_id=first.run_id)
        summary = _interactive(retry.task_id, local_code, deferrable=False).execute(context_for(retry))
        assert (summary["job_deployment_status"], summary["job_status"]) == ("Complete", "SUCCEEDED")
        assert "Submitted Ray job" not in capsys.readouterr().out
        submission_id = submission_id_for(first.dag_id, first.task_id, first.run_id, first.map_index)
        endpoint = KubeRayHook().dashboard_endpoint(summary["ray_cluster_name"], kuberay_conn)
        info = RayDashboardHook(None, endpoint=endpoint).get_job_info(submission_id)
        assert info["metadata"]["airflow_try_number"] == "1"  # the job of try 1, never submitted again
    finally:
        if name:
            _cleanup(name, kuberay_conn)
