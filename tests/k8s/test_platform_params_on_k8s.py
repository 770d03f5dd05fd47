"""
RayJob lifecycle parameters and Kueue queueing (issue 16) on the real control plane: the served
CRDs keep every field the operator sends, KubeRay's pre-running deadline fails the task with
KubeRay's reason, and a job held for a queue says so in the task log and at its deadline.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from k8s_support import provider_cluster, task_instance

from airflow_provider_kuberay.exceptions import RayJobFailedError
from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.operators import KubeRayRunJobOperator
from tests.support.airflow_context import context_for

pytestmark = pytest.mark.k8s

# No node carries this label: the head pod stays Pending, so the job never starts running.
# job_overrides merge into the RayJob's spec: a head that no node fits.
NOWHERE = {"rayClusterSpec": {"headGroupSpec": {"template": {"spec": {"nodeSelector": {"nowhere": "x"}}}}}}
SUBMITTER = {
    "metadata": {"labels": {"team": "vision"}},
    "spec": {
        "restartPolicy": "Never",
        "containers": [{"name": "ray-job-submitter", "image": "rayproject/ray:2.52.0"}],
    },
}


def _job(task_id: str, **kwargs: Any) -> KubeRayRunJobOperator:
    return KubeRayRunJobOperator(
        task_id=task_id,
        entrypoint="python -c 'print(1)'",
        cluster=provider_cluster(),
        resync_interval=1,
        deferrable=False,
        **kwargs,
    )


def _gone(name: str, namespace: str) -> None:
    KubeRayHook().wait_until_deleted("RayJob", name, namespace, timeout=90)


def test_the_served_crds_keep_every_lifecycle_and_metadata_field(kuberay_conn: str) -> None:
    ti = task_instance("lifecycle_fields")
    op = _job(
        ti.task_id,
        job_overrides=NOWHERE,  # nothing runs: only what the API server stored matters
        pre_running_deadline_seconds=600,
        deletion_strategy={"onSuccess": {"policy": "DeleteCluster"}, "onFailure": {"policy": "DeleteNone"}},
        submitter_pod_template=SUBMITTER,
        submitter_backoff_limit=1,
        labels={"team": "vision"},
        annotations={"example.com/owner": "ana"},
        wait_for_completion=False,
    )
    name = str(op.execute(context_for(ti)))
    try:
        stored = KubeRayHook().get_object("RayJob", name, kuberay_conn)
        spec = stored["spec"]
        assert spec["preRunningDeadlineSeconds"] == 600
        assert spec["deletionStrategy"]["onFailure"] == {"policy": "DeleteNone"}
        assert spec["submitterPodTemplate"]["metadata"]["labels"] == {"team": "vision"}
        assert spec["submitterConfig"] == {"backoffLimit": 1}
        assert stored["metadata"]["labels"]["team"] == "vision"
        assert stored["metadata"]["annotations"]["example.com/owner"] == "ana"
    finally:
        KubeRayHook().delete_object("RayJob", name, kuberay_conn)
        _gone(name, kuberay_conn)


def test_an_expired_pre_running_deadline_fails_the_task_with_kuberays_reason(kuberay_conn: str) -> None:
    # A head that no node fits (nodeSelector) stays Pending, on the harness as on a real cluster.
    ti = task_instance("pre_running_deadline")
    op = _job(ti.task_id, job_overrides=NOWHERE, pre_running_deadline_seconds=5, stream_logs=False)
    with pytest.raises(RayJobFailedError) as info:
        op.execute(context_for(ti))
    text = str(info.value)
    assert "failed (PreRunningDeadlineExceeded): The RayJob has passed the preRunningDeadlineSeconds" in text
    # The job may yet start on its cluster: the task deletes its RayJob (KubeRay removes the rest).
    name = str(ti.xcoms["name"])
    assert f"Deleted RayJob {kuberay_conn}/{name}" in text
    _gone(name, kuberay_conn)


def test_a_job_held_for_its_queue_says_so_and_names_the_queue_at_its_deadline(
    kuberay_conn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # No Kueue runs here (test_kueue_on_k8s.py starts the real one for its own module only): nothing
    # admits the job, which stays suspended as Kueue would keep it.
    ti = task_instance("queued_until_deadline")
    op = _job(ti.task_id, queue_name="team-a", priority_class="low", execution_timeout=timedelta(seconds=10))
    with pytest.raises(RayJobFailedError) as info:
        op.execute(context_for(ti))
    name = str(ti.xcoms["name"])
    assert "still queued in Kueue LocalQueue 'team-a'" in str(info.value)
    assert f"RayJob {kuberay_conn}/{name} is queued in Kueue LocalQueue 'team-a'" in capsys.readouterr().out
    assert f"Deleted RayJob {kuberay_conn}/{name}" in str(info.value)
    _gone(name, kuberay_conn)
