"""
Timeouts on the real control plane (issue 8, part 5): ``execution_timeout`` in the worker, the
deferral's timeouts (the trigger's own deadline, and Airflow's ``TaskDeferralTimeout``) and KubeRay's
``activeDeadlineSeconds`` each fail the task with the reason stated, delete only the task's own
RayJob / RayCluster (whose Ray job KubeRay then stops), and leave the shared cluster and another
task's RayJob alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from k8s_support import GROUP, VERSION, provider_cluster, rayjob, task_instance, wait_for
from restart_support import first_event, rebuilt

from airflow_provider_kuberay.exceptions import KubeRayTimeoutError, RayJobFailedError
from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.operators import KubeRayCreateClusterOperator, KubeRayRunJobOperator
from airflow_provider_kuberay.tasks.deferral import DEFER_GRACE
from airflow_provider_kuberay.tasks.identity import TASK_LABEL
from tests.support.airflow_context import UNDER_AIRFLOWS_ALARM, FakeTaskInstance, context_for
from tests.support.airflow_exceptions import AirflowTaskTimeout, TaskDeferralTimeout, TaskDeferred
from tests.support.airflow_timeout import run_execute_with_timeout

pytestmark = pytest.mark.k8s

BYSTANDER = "another-tasks-job"


@pytest.fixture(scope="module")
def bystander(k8s_cluster: Any, k8s_namespace: str, shared_cluster: str) -> Iterator[str]:
    """Another task's RayJob on the shared cluster (suspended: it costs nothing), never to be touched."""
    from kubernetes import client

    custom = client.CustomObjectsApi(k8s_cluster.api)
    body = rayjob(BYSTANDER, k8s_namespace, "python -c 'print(1)'", suspend=True)
    del body["spec"]["rayClusterSpec"]
    body["spec"]["clusterSelector"] = {"ray.io/cluster": shared_cluster}
    body["metadata"]["labels"] = {TASK_LABEL: "another-task-instance"}
    uid = custom.create_namespaced_custom_object(GROUP, VERSION, k8s_namespace, "rayjobs", body)["metadata"]["uid"]
    yield uid
    custom.delete_namespaced_custom_object(GROUP, VERSION, k8s_namespace, "rayjobs", BYSTANDER)


def _others_untouched(namespace: str, shared_cluster: str, bystander_uid: str) -> None:
    hook = KubeRayHook()
    cluster = hook.find_object("RayCluster", shared_cluster, namespace)
    assert cluster is not None, "the shared cluster was deleted"
    assert "deletionTimestamp" not in cluster["metadata"], "the shared cluster is being deleted"
    other = hook.find_object("RayJob", BYSTANDER, namespace)
    assert other is not None, "another task's RayJob was deleted"
    assert other["metadata"]["uid"] == bystander_uid, "another task's RayJob was replaced"
    assert "deletionTimestamp" not in other["metadata"], "another task's RayJob is being deleted"


# A task deadline that leaves room for the RayJob's submitter pod (a real `ray job submit` process)
# to have started the Ray job before it, on a loaded machine.
JOB_DEADLINE = timedelta(seconds=30)


def _sleeper(marker: str) -> str:
    # The marker finds the Ray job on the shared cluster once its RayJob is gone.
    return f"python -c 'import time; time.sleep(300)' {marker}"


def _ray_job_stopped(namespace: str, cluster: str, marker: str) -> None:
    """The Ray job of the deleted RayJob is stopped on the shared cluster (KubeRay's finalizer)."""
    from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook

    dashboard = RayDashboardHook(None, endpoint=KubeRayHook().dashboard_endpoint(cluster, namespace))

    def statuses() -> list[str]:
        return [str(j.get("status")) for j in dashboard.list_jobs() if marker in str(j.get("entrypoint"))]

    wait_for("the Ray job to stop", lambda: statuses() and set(statuses()) <= {"STOPPED"}, timeout=90, interval=1)


def _job(task_id: str, marker: str, **kwargs: Any) -> KubeRayRunJobOperator:
    return KubeRayRunJobOperator(
        task_id=task_id, entrypoint=_sleeper(marker), cluster_name="shared", resync_interval=1, **kwargs
    )


def _gone(kind: str, name: str, namespace: str) -> None:
    KubeRayHook().wait_until_deleted(kind, name, namespace, timeout=90)


def _job_name(ti: FakeTaskInstance) -> str:
    from airflow_provider_kuberay.specs import resource_name

    return resource_name(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, kind="RayJob")


@UNDER_AIRFLOWS_ALARM
def test_execution_timeout_in_the_worker_deletes_only_the_tasks_rayjob(
    kuberay_conn: str, shared_cluster: str, bystander: str
) -> None:
    # Airflow's own enforcement: SIGALRM around execute, then on_kill (the task runner's function).
    marker = f"exec-timeout-{uuid.uuid4().hex[:6]}"
    ti = task_instance("exec_timeout")
    op = _job(ti.task_id, marker, deferrable=False, execution_timeout=JOB_DEADLINE)
    # The in-worker wait gives up a few seconds before Airflow's alarm, with the RayJob's state in the
    # message; should the alarm still come first (a slow clean-up), on_kill deletes the RayJob.
    with pytest.raises((RayJobFailedError, AirflowTaskTimeout)) as info:
        run_execute_with_timeout(context_for(ti), op)
    assert "timed out" in str(info.value) or "Timeout" in str(info.value), info.value
    _gone("RayJob", _job_name(ti), kuberay_conn)
    _ray_job_stopped(kuberay_conn, shared_cluster, marker)
    _others_untouched(kuberay_conn, shared_cluster, bystander)


def test_deferred_wait_gives_up_at_the_deadline_and_deletes_only_the_tasks_rayjob(
    kuberay_conn: str, shared_cluster: str, bystander: str
) -> None:
    marker = f"deferred-timeout-{uuid.uuid4().hex[:6]}"
    ti = task_instance("deferred_timeout")
    timeout = JOB_DEADLINE
    with pytest.raises(TaskDeferred) as deferred:
        _job(ti.task_id, marker, deferrable=True, execution_timeout=timeout).execute(context_for(ti))
    # Airflow's own deferral timeout is a backstop after the trigger's deadline.
    assert deferred.value.timeout == timeout + DEFER_GRACE
    event = first_event(rebuilt(deferred.value.trigger))
    assert event["outcome"] == "timeout", event
    # A new operator object resumes, as in a new worker: the event carries everything.
    with pytest.raises(RayJobFailedError) as info:
        _job(ti.task_id, marker, deferrable=True, execution_timeout=timeout).execute_complete(context_for(ti), event)
    text = str(info.value)
    assert "timed out: it did not finish before the task's deadline" in text
    assert f"Deleted RayJob {kuberay_conn}/{_job_name(ti)}" in text
    _gone("RayJob", _job_name(ti), kuberay_conn)
    _ray_job_stopped(kuberay_conn, shared_cluster, marker)
    _others_untouched(kuberay_conn, shared_cluster, bystander)


def _fail_for_deferral_timeout(op: Any, ti: FakeTaskInstance) -> str:
    """Resume the task as Airflow does once the scheduler timed the deferral out; the error's text."""
    from airflow.models.trigger import TriggerFailureReason

    with pytest.raises(TaskDeferralTimeout) as info:
        op.resume_execution("__fail__", {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, context_for(ti))
    return str(info.value)


def test_airflow_deferral_timeout_deletes_only_the_tasks_rayjob(
    kuberay_conn: str, shared_cluster: str, bystander: str
) -> None:
    marker = f"deferral-timeout-{uuid.uuid4().hex[:6]}"
    ti = task_instance("airflow_deferral_timeout")
    with pytest.raises(TaskDeferred):
        _job(ti.task_id, marker, deferrable=True, execution_timeout=timedelta(seconds=30)).execute(context_for(ti))
    wait_for("the Ray job to run", lambda: _status(kuberay_conn, _job_name(ti)).get("jobStatus") == "RUNNING")
    # The trigger never reported (say the triggerer was down): Airflow fails the task on resume.
    resumed = _job(ti.task_id, marker, deferrable=True, execution_timeout=timedelta(seconds=30))
    text = _fail_for_deferral_timeout(resumed, ti)
    assert "timed out: the deferral outlived its timeout" in text
    assert f"Deleted RayJob {kuberay_conn}/{_job_name(ti)}" in text
    _gone("RayJob", _job_name(ti), kuberay_conn)
    _ray_job_stopped(kuberay_conn, shared_cluster, marker)
    _others_untouched(kuberay_conn, shared_cluster, bystander)


def _status(namespace: str, name: str) -> dict[str, Any]:
    return dict(KubeRayHook().get_object("RayJob", name, namespace).get("status") or {})


def _never_ready_cluster(task_id: str, **kwargs: Any) -> KubeRayCreateClusterOperator:
    # Suspended: the cluster cannot become ready before the timeout.
    return KubeRayCreateClusterOperator(
        task_id=task_id,
        cluster=provider_cluster(),
        overrides={"spec": {"suspend": True}},
        resync_interval=1,
        **kwargs,
    )


def test_airflow_deferral_timeout_deletes_only_the_tasks_cluster(
    kuberay_conn: str, shared_cluster: str, bystander: str
) -> None:
    ti = task_instance("cluster_deferral_timeout")
    with pytest.raises(TaskDeferred):
        _never_ready_cluster(ti.task_id, deferrable=True).execute(context_for(ti))
    name = str(ti.xcoms["cluster_name"])
    assert KubeRayHook().find_object("RayCluster", name, kuberay_conn) is not None
    text = _fail_for_deferral_timeout(_never_ready_cluster(ti.task_id, deferrable=True), ti)
    assert "timed out: not ready before the deferral's timeout" in text
    assert f"Deleted RayCluster {kuberay_conn}/{name}, which this task created" in text
    _gone("RayCluster", name, kuberay_conn)
    _others_untouched(kuberay_conn, shared_cluster, bystander)


@UNDER_AIRFLOWS_ALARM
def test_execution_timeout_in_the_worker_deletes_only_the_tasks_cluster(
    kuberay_conn: str, shared_cluster: str, bystander: str
) -> None:
    ti = task_instance("cluster_exec_timeout")
    op = _never_ready_cluster(ti.task_id, deferrable=False, execution_timeout=timedelta(seconds=6))
    with pytest.raises((KubeRayTimeoutError, AirflowTaskTimeout)) as info:
        run_execute_with_timeout(context_for(ti), op)
    assert "timed out" in str(info.value) or "Timeout" in str(info.value), info.value
    _gone("RayCluster", str(ti.xcoms["cluster_name"]), kuberay_conn)
    _others_untouched(kuberay_conn, shared_cluster, bystander)


def test_kuberay_active_deadline_fails_the_task_with_kuberays_reason(
    kuberay_conn: str, shared_cluster: str, bystander: str
) -> None:
    marker = f"active-deadline-{uuid.uuid4().hex[:6]}"
    ti = task_instance("active_deadline")
    op = _job(ti.task_id, marker, deferrable=False, active_deadline_seconds=int(JOB_DEADLINE.total_seconds()))
    with pytest.raises(RayJobFailedError) as info:
        op.execute(context_for(ti))
    text = str(info.value)
    assert "failed (DeadlineExceeded): The RayJob has passed the activeDeadlineSeconds" in text
    # KubeRay leaves the Ray job running after the deadline: the task deletes its RayJob to stop it.
    assert f"Deleted RayJob {kuberay_conn}/{_job_name(ti)}" in text
    _gone("RayJob", _job_name(ti), kuberay_conn)
    _ray_job_stopped(kuberay_conn, shared_cluster, marker)
    _others_untouched(kuberay_conn, shared_cluster, bystander)
