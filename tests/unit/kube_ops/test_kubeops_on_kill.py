"""
Killing a deferred task (Airflow 3.3+ ``BaseTrigger.on_kill``): the RayJob and RayCluster triggers
delete only the object their task created, with the Kubernetes API faked at the HTTP boundary.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from airflow_provider_kuberay.operators import KubeRayCreateClusterOperator, KubeRayRunJobOperator
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup
from airflow_provider_kuberay.tasks import adoption
from airflow_provider_kuberay.tasks.identity import TASK_LABEL, TRY_LABEL, TaskIdentity
from airflow_provider_kuberay.triggers.ray_cluster import RayClusterReadyTrigger
from airflow_provider_kuberay.triggers.ray_job import RayJobTrigger
from tests.support.airflow_context import FakeTaskInstance, context_for
from tests.support.airflow_exceptions import TaskDeferred
from tests.support.fake_kube_api import FakeKubeApi
from tests.support.user_kill import kill_as_a_user_would

CLUSTER = ClusterSpec(image="rayproject/ray:2.52.0", ray_version="2.52.0", head=HeadGroup())
NS = "ml"


def _object(name: str, owner: str | None) -> dict[str, Any]:
    labels = {TASK_LABEL: owner} if owner else {}
    return {"metadata": {"name": name, "namespace": NS, "labels": labels}, "spec": {"entrypoint": "x"}}


def _deferred(operator: Any, ti: FakeTaskInstance) -> Any:
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context_for(ti))
    return deferred.value.trigger


def test_killed_rayjob_trigger_deletes_the_rayjob_its_task_created(kube: FakeKubeApi) -> None:
    ti = FakeTaskInstance()
    trigger = _deferred(
        KubeRayRunJobOperator(task_id="task", entrypoint="python a.py", cluster=CLUSTER, deferrable=True), ti
    )
    assert isinstance(trigger, RayJobTrigger)
    _, kwargs = trigger.serialize()
    assert kwargs["cancel_on_kill"] is True
    assert kwargs["owner_key"] == TaskIdentity.from_context(context_for(ti)).key
    kill_as_a_user_would(trigger)
    assert kube.get("RayJob", NS, trigger.name) is None


def test_rayjob_trigger_with_delete_on_kill_false_deletes_nothing(kube: FakeKubeApi) -> None:
    operator = KubeRayRunJobOperator(
        task_id="task", entrypoint="python a.py", cluster=CLUSTER, deferrable=True, delete_on_kill=False
    )
    trigger = _deferred(operator, FakeTaskInstance())
    assert "cancel_on_kill" not in trigger.serialize()[1]
    kill_as_a_user_would(trigger)
    assert kube.get("RayJob", NS, trigger.name) is not None
    assert kube.calls("DELETE") == []


def test_killed_trigger_never_deletes_an_object_of_another_task(kube: FakeKubeApi) -> None:
    kube.put_object("RayJob", _object("theirs", "another-task-key"))
    kube.put_object("RayJob", _object("unlabelled", None))
    for name in ("theirs", "unlabelled"):
        kill_as_a_user_would(
            RayJobTrigger(name, NS, "kuberay_default", stream_logs=False, cancel_on_kill=True, owner_key="mine")
        )
    assert kube.get("RayJob", NS, "theirs") is not None
    assert kube.get("RayJob", NS, "unlabelled") is not None
    assert kube.calls("DELETE") == []


def test_a_trigger_deferred_by_an_earlier_release_rebuilds_and_deletes_nothing(kube: FakeKubeApi) -> None:
    kube.put_object("RayJob", _object("old", "key"))
    old_kwargs = {"name": "old", "namespace": NS, "kuberay_conn_id": "kuberay_default", "deadline": None}
    trigger = RayJobTrigger(**old_kwargs, resync_interval=15.0, stream_logs=False, log_tail_lines=50)
    assert set(trigger.serialize()[1]) == {*old_kwargs, "resync_interval", "stream_logs", "log_tail_lines"}
    kill_as_a_user_would(trigger)
    assert kube.get("RayJob", NS, "old") is not None


def test_killed_cluster_trigger_deletes_the_unready_cluster_its_task_created(kube: FakeKubeApi) -> None:
    trigger = _deferred(
        KubeRayCreateClusterOperator(task_id="task", cluster=CLUSTER, deferrable=True), FakeTaskInstance()
    )
    assert isinstance(trigger, RayClusterReadyTrigger)
    assert kube.get("RayCluster", NS, trigger.name) is not None
    kill_as_a_user_would(trigger)
    assert kube.get("RayCluster", NS, trigger.name) is None


def test_killed_cluster_trigger_leaves_a_shared_cluster(kube: FakeKubeApi) -> None:
    kube.put_object("RayCluster", _object("shared", None))
    kill_as_a_user_would(RayClusterReadyTrigger("shared", NS, "kuberay_default", cancel_on_kill=True, owner_key="mine"))
    assert kube.get("RayCluster", NS, "shared") is not None


def _run_job() -> KubeRayRunJobOperator:
    return KubeRayRunJobOperator(task_id="task", entrypoint="python a.py", cluster=CLUSTER, deferrable=True)


def test_a_cleared_try_waits_for_the_clears_delete_and_creates_its_rayjob_anew(
    kube: FakeKubeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    name = _deferred(_run_job(), FakeTaskInstance(try_number=1, max_tries=1)).name
    # The clear: the first try's trigger deletes its RayJob a moment after the new try started.
    deleting = threading.Timer(1.0, kube.remove_object, ("RayJob", NS, name))
    deleting.start()
    try:
        second = _deferred(_run_job(), FakeTaskInstance(try_number=2, max_tries=2))
    finally:
        deleting.join()
    assert second.name == name
    assert kube.get("RayJob", NS, name)["metadata"]["labels"][TRY_LABEL] == "2"
    assert f"Created RayJob {NS}/{name} anew: the clear deleted the earlier try's" in capsys.readouterr().out


def test_a_cleared_try_adopts_the_rayjob_when_no_delete_comes(
    kube: FakeKubeApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Airflow before 3.3 calls no trigger on_kill: after the wait, the running RayJob is followed.
    monkeypatch.setattr(adoption, "CLEAR_KILL_WAIT", 1.0)
    name = _deferred(_run_job(), FakeTaskInstance(try_number=1, max_tries=1)).name
    _deferred(_run_job(), FakeTaskInstance(try_number=2, max_tries=2))
    assert kube.get("RayJob", NS, name)["metadata"]["labels"][TRY_LABEL] == "1"
    assert f"Adopted RayJob {NS}/{name}" in capsys.readouterr().out
