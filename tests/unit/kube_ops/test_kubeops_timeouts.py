"""Timeouts of the RayJob / RayCluster operators with the Kubernetes API faked at the HTTP boundary:
each ends with the task failed, the reason stated, and only the task's own object deleted."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_kuberay.exceptions import RayJobFailedError
from airflow_provider_kuberay.operators import KubeRayCreateClusterOperator, KubeRayRunJobOperator
from airflow_provider_kuberay.operators.run_job import ended_by_deadline
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, resource_name
from airflow_provider_kuberay.tasks.deferral import IN_WORKER_MARGIN, deferral_timed_out, wait_deadline
from airflow_provider_kuberay.triggers.events import RayJobEvent
from tests.support.airflow_context import UNDER_AIRFLOWS_ALARM, FakeTaskInstance, context_for
from tests.support.airflow_exceptions import AirflowTaskTimeout, TaskDeferralTimeout, TaskDeferred
from tests.support.airflow_timeout import run_execute_with_timeout
from tests.support.fake_kube_api import FakeKubeApi

NS = "ml"  # the namespace of the `kube` fixture's connection (conftest.py)
CLUSTER = ClusterSpec(image="rayproject/ray:2.52.0", ray_version="2.52.0", head=HeadGroup())
DEADLINE_EXCEEDED = {
    "jobDeploymentStatus": "Failed",
    "reason": "DeadlineExceeded",
    "message": "The RayJob has passed the activeDeadlineSeconds. ActiveDeadlineSeconds: 5",
    "jobId": "j-1",
    "rayClusterName": "shared",
}


def _job(**kwargs: Any) -> KubeRayRunJobOperator:
    options: dict[str, Any] = {"task_id": "task", "entrypoint": "python a.py", "cluster_name": "shared"}
    return KubeRayRunJobOperator(**{**options, "resync_interval": 0.5, "stream_logs": False, **kwargs})


def _timed_out_deferral(op: Any, ti: FakeTaskInstance) -> str:
    from airflow.models.trigger import TriggerFailureReason

    with pytest.raises(TaskDeferralTimeout) as info:
        op.resume_execution("__fail__", {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, context_for(ti))
    return str(info.value)


def test_deferral_timed_out_reads_airflows_signal() -> None:
    from airflow.models.trigger import TriggerFailureReason
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR

    assert deferral_timed_out(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT})
    assert deferral_timed_out(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT.value})
    assert not deferral_timed_out(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_FAILURE})
    assert not deferral_timed_out(TRIGGER_FAIL_REPR, None)
    assert not deferral_timed_out("execute_complete", {"event": {}})


def test_a_wait_in_the_worker_gives_up_before_airflows_alarm() -> None:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    hour = timedelta(hours=1)
    assert wait_deadline(_job(execution_timeout=hour, deferrable=True), start) == (start + hour).timestamp()
    in_worker = _job(execution_timeout=hour, deferrable=False)
    assert wait_deadline(in_worker, start) == (start + hour - IN_WORKER_MARGIN).timestamp()
    # A short timeout keeps most of itself.
    short = _job(execution_timeout=timedelta(seconds=8), deferrable=False)
    assert wait_deadline(short, start) == (start + timedelta(seconds=6)).timestamp()
    assert wait_deadline(_job(deferrable=False), start) is None


@UNDER_AIRFLOWS_ALARM
def test_execution_timeout_in_the_worker_ends_with_the_tasks_own_message_before_the_alarm(kube: FakeKubeApi) -> None:
    ti = FakeTaskInstance(start_date=datetime.now(timezone.utc))
    op = _job(deferrable=False, execution_timeout=timedelta(seconds=8))
    # Airflow's alarm never fires: the task's own deadline ends the wait, deletes its RayJob, and says why.
    with pytest.raises(RayJobFailedError) as info:
        run_execute_with_timeout(context_for(ti), op)
    assert "timed out" in str(info.value)
    assert kube.get("RayJob", NS, resource_name(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, kind="RayJob")) is None


def test_ended_by_deadline_only_for_kuberays_deadlines() -> None:
    def event(payload: dict[str, str]) -> RayJobEvent:
        return RayJobEvent.from_payload({"kind": "RayJob", "name": "j", "namespace": "ns", **payload})

    assert ended_by_deadline(event({"outcome": "failed", "reason": "DeadlineExceeded"}))
    assert ended_by_deadline(event({"outcome": "failed", "reason": "PreRunningDeadlineExceeded"}))
    assert not ended_by_deadline(event({"outcome": "failed", "reason": "AppFailed"}))
    assert not ended_by_deadline(event({"outcome": "succeeded", "reason": "DeadlineExceeded"}))
    assert not ended_by_deadline(event({"outcome": "failed"}))


def test_kuberay_deadline_fails_with_its_reason_and_deletes_the_rayjob(kube: FakeKubeApi) -> None:
    ti = FakeTaskInstance()
    name = resource_name(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, kind="RayJob")

    _status_once_created(kube, "RayJob", name, DEADLINE_EXCEEDED)
    with pytest.raises(RayJobFailedError) as info:
        _job(deferrable=False).execute(context_for(ti))
    assert "failed (DeadlineExceeded): The RayJob has passed the activeDeadlineSeconds" in str(info.value)
    assert f"Deleted RayJob {NS}/{name}: KubeRay stops its Ray job." in str(info.value)
    assert kube.get("RayJob", NS, name) is None


def test_deferral_timeout_deletes_the_tasks_rayjob_and_says_so(kube: FakeKubeApi) -> None:
    ti = FakeTaskInstance()
    with pytest.raises(TaskDeferred):
        _job(deferrable=True).execute(context_for(ti))
    name = resource_name(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, kind="RayJob")
    text = _timed_out_deferral(_job(deferrable=True), ti)
    assert f"RayJob {NS}/{name} timed out: the deferral outlived its timeout" in text
    assert f"Deleted RayJob {NS}/{name}" in text
    assert kube.get("RayJob", NS, name) is None


def test_deferral_timeout_never_deletes_another_tasks_rayjob(kube: FakeKubeApi) -> None:
    kube.put_object("RayJob", {"metadata": {"name": "theirs", "namespace": NS}, "spec": {"entrypoint": "x"}})
    text = _timed_out_deferral(_job(deferrable=True, name="theirs"), FakeTaskInstance())
    assert "Deleted" not in text
    assert kube.get("RayJob", NS, "theirs") is not None
    assert kube.calls("DELETE") == []


def test_deferral_timeout_deletes_the_tasks_unready_cluster(kube: FakeKubeApi) -> None:
    ti = FakeTaskInstance()
    op = KubeRayCreateClusterOperator(task_id="task", cluster=CLUSTER, cluster_name="mine", deferrable=True)
    with pytest.raises(TaskDeferred):
        op.execute(context_for(ti))
    kube.put_object("RayCluster", {"metadata": {"name": "shared", "namespace": NS}, "spec": {}})
    text = _timed_out_deferral(op, ti)
    assert f"RayCluster {NS}/mine timed out: not ready before the deferral's timeout" in text
    assert f"Deleted RayCluster {NS}/mine, which this task created." in text
    assert kube.get("RayCluster", NS, "mine") is None
    assert kube.get("RayCluster", NS, "shared") is not None


@UNDER_AIRFLOWS_ALARM
def test_execution_timeout_in_the_worker_deletes_the_unready_cluster_via_on_kill(kube: FakeKubeApi) -> None:
    # The trigger's own deadline is far away: Airflow's alarm ends the wait, then calls on_kill.
    ti = FakeTaskInstance(start_date=datetime.now(timezone.utc) + timedelta(minutes=5))
    op = KubeRayCreateClusterOperator(
        task_id="task",
        cluster=CLUSTER,
        cluster_name="mine",
        deferrable=False,
        resync_interval=0.2,
        execution_timeout=timedelta(seconds=1),
    )
    with pytest.raises(AirflowTaskTimeout):
        run_execute_with_timeout(context_for(ti), op)
    assert kube.get("RayCluster", NS, "mine") is None


def test_on_kill_after_the_cluster_is_ready_deletes_nothing(kube: FakeKubeApi) -> None:
    ready = {
        "conditions": [
            {"type": "RayClusterProvisioned", "status": "True"},
            {"type": "HeadPodReady", "status": "True"},
        ]
    }
    _status_once_created(kube, "RayCluster", "mine", ready)
    op = KubeRayCreateClusterOperator(
        task_id="task", cluster=CLUSTER, cluster_name="mine", deferrable=False, resync_interval=0.2
    )
    assert op.execute(context_for())["cluster_name"] == "mine"
    op.on_kill()
    assert kube.calls("DELETE") == []
    assert kube.get("RayCluster", NS, "mine") is not None


def _status_once_created(kube: FakeKubeApi, kind: str, name: str, status: dict[str, Any]) -> None:
    """Set the status as soon as the task has created the object (as KubeRay would)."""

    def wait_then_set() -> None:
        for _ in range(100):
            if kube.get(kind, NS, name) is not None:
                kube.set_status(kind, NS, name, status)
                return
            time.sleep(0.1)

    threading.Thread(target=wait_then_set, daemon=True).start()
