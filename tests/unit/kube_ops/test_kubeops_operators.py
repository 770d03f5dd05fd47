"""RayJob / RayCluster operators, sensors and triggers with the Kubernetes API faked at the HTTP boundary."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from airflow_provider_kuberay.exceptions import KubeRayConflictError, KubeRayResourceFailedError, RayJobFailedError
from airflow_provider_kuberay.lineage.parent import ParentRun
from airflow_provider_kuberay.operators import (
    KubeRayCreateClusterOperator,
    KubeRayDeleteClusterOperator,
    KubeRayRunJobOperator,
)
from airflow_provider_kuberay.sensors import KubeRayClusterSensor, KubeRayJobSensor
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, resource_name
from airflow_provider_kuberay.tasks.identity import TaskIdentity
from airflow_provider_kuberay.triggers.ray_job import RayJobTrigger
from airflow_provider_kuberay.triggers.watch_hub import WatchHub
from tests.support.airflow_context import FakeTaskInstance, context_for
from tests.support.airflow_exceptions import TaskDeferred
from tests.support.fake_kube_api import FakeKubeApi
from tests.support.loop_watchdog import first_event, run_watched

CLUSTER = ClusterSpec(image="rayproject/ray:2.52.0", ray_version="2.52.0", head=HeadGroup())
NS = "ml"  # the namespace of the `kube` fixture's connection (conftest.py)
COMPLETE = {
    "jobDeploymentStatus": "Complete",
    "jobStatus": "SUCCEEDED",
    "jobId": "rayjob-x-abc",
    "rayClusterName": "rc-1",
}
FAILED = {
    "jobDeploymentStatus": "Failed",
    "jobStatus": "FAILED",
    "reason": "AppFailed",
    "message": "Job entrypoint command failed with exit code 3",
    "jobId": "rayjob-x-abc",
    "rayClusterName": "rc-1",
}
READY = {
    "state": "ready",
    "conditions": [{"type": "RayClusterProvisioned", "status": "True"}, {"type": "HeadPodReady", "status": "True"}],
    "head": {"serviceName": "c-head-svc"},
}


def _later(seconds: float, action: Any) -> None:
    threading.Timer(seconds, action).start()


def _status_once_created(kube: FakeKubeApi, kind: str, name: str, status: dict[str, Any]) -> None:
    """Set the status as soon as the task has created the object (as KubeRay would)."""

    def wait_then_set() -> None:
        for _ in range(300):
            if kube.get(kind, NS, name) is not None:
                time.sleep(0.3)
                kube.set_status(kind, NS, name, status)
                return
            time.sleep(0.1)

    threading.Thread(target=wait_then_set, daemon=True).start()


def _job_name(ti: FakeTaskInstance) -> str:
    return resource_name(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, kind="RayJob")


def _run_job(**kwargs: Any) -> KubeRayRunJobOperator:
    defaults: dict[str, Any] = {
        "task_id": "task",
        "entrypoint": "python a.py",
        "cluster": CLUSTER,
        "deferrable": False,
        "resync_interval": 0.5,
    }
    return KubeRayRunJobOperator(**{**defaults, **kwargs})


def test_run_job_creates_follows_and_reports(kube: FakeKubeApi, capsys: pytest.CaptureFixture[str]) -> None:
    ti = FakeTaskInstance()
    name = _job_name(ti)
    kube.add_pod(f"{name}-sub", NS, labels={"job-name": name}, log_chunks=["hello from the driver\n", "done\n"])
    _status_once_created(kube, "RayJob", name, COMPLETE)
    summary = _run_job().execute(context_for(ti))
    assert summary == {
        "name": name,
        "namespace": NS,
        "ray_cluster_name": "rc-1",
        "job_id": "rayjob-x-abc",
        "dashboard_url": "",
        "job_status": "SUCCEEDED",
        "job_deployment_status": "Complete",
    }
    created = kube.get("RayJob", NS, name)
    assert created is not None
    assert (
        created["metadata"]["labels"]["kuberay.airflow.apache.org/task-instance"]
        == TaskIdentity.from_context(context_for(ti)).key
    )
    assert created["spec"]["shutdownAfterJobFinishes"] is True
    assert ti.xcoms["job_status"] == "SUCCEEDED"
    assert "[ray] hello from the driver" in capsys.readouterr().out


def test_run_job_failure_carries_reason_message_log_tail_and_events(kube: FakeKubeApi) -> None:
    ti = FakeTaskInstance()
    name = _job_name(ti)
    kube.add_pod(f"{name}-sub", NS, labels={"job-name": name}, log="step 1\nTraceback\nValueError: bad input\n")
    kube.add_event(name, "Failed", "submitter exited 1", namespace=NS, kind="RayJob", type="Warning")
    _status_once_created(kube, "RayJob", name, FAILED)
    with pytest.raises(RayJobFailedError) as info:
        _run_job(stream_logs=False).execute(context_for(ti))
    text = str(info.value)
    assert f"RayJob {NS}/{name} failed (AppFailed): Job entrypoint command failed with exit code 3" in text
    assert "ValueError: bad input" in text
    assert "Warning Failed: submitter exited 1" in text


def test_retry_adopts_its_running_rayjob(kube: FakeKubeApi) -> None:
    first = FakeTaskInstance(try_number=1)
    name = _job_name(first)
    _run_job(wait_for_completion=False).execute(context_for(first))
    again = FakeTaskInstance(try_number=2)
    _run_job(wait_for_completion=False).execute(context_for(again))
    creates = kube.calls("POST", f"/apis/ray.io/v1/namespaces/{NS}/rayjobs")
    assert len(creates) == 2  # the second answered 409 and was adopted
    assert [key for key in kube.objects if key[0] == "RayJob"] == [("RayJob", NS, name)]
    assert kube.calls("DELETE") == []


def test_retry_replaces_a_rayjob_that_failed_in_an_earlier_try(kube: FakeKubeApi) -> None:
    first = FakeTaskInstance(try_number=1)
    name = _job_name(first)
    _run_job(wait_for_completion=False).execute(context_for(first))
    kube.set_status("RayJob", NS, name, FAILED)
    _run_job(wait_for_completion=False).execute(context_for(FakeTaskInstance(try_number=2)))
    replaced = kube.get("RayJob", NS, name)
    assert replaced is not None
    assert replaced["metadata"]["labels"]["kuberay.airflow.apache.org/try-number"] == "2"
    assert "status" not in replaced or not replaced["status"]


def test_an_object_of_another_task_is_never_adopted(kube: FakeKubeApi) -> None:
    kube.put_object("RayJob", {"metadata": {"name": "taken", "namespace": NS}, "spec": {"entrypoint": "x"}})
    with pytest.raises(KubeRayConflictError, match="not created by this task"):
        _run_job(name="taken", wait_for_completion=False).execute(context_for())
    assert kube.get("RayJob", NS, "taken") is not None


def test_on_kill_deletes_only_the_rayjob_it_created(kube: FakeKubeApi) -> None:
    kube.put_object("RayCluster", {"metadata": {"name": "shared", "namespace": NS}, "spec": {}})
    op = _run_job(cluster=None, cluster_name="shared", wait_for_completion=False)
    op.on_kill()  # nothing created yet
    assert kube.calls("DELETE") == []
    name = op.execute(context_for())
    op.on_kill()
    assert kube.get("RayJob", NS, name) is None
    assert kube.get("RayCluster", NS, "shared") is not None


def test_a_rayjob_on_a_cluster_with_kubernetes_token_auth_is_refused_before_creating(kube: FakeKubeApi) -> None:
    # KubeRay v1.6.2 would look for a token Secret such a cluster does not have and never follow the job.
    auth = {"mode": "token", "enableK8sTokenAuth": True}
    kube.put_object("RayCluster", {"metadata": {"name": "k8sauth", "namespace": NS}, "spec": {"authOptions": auth}})
    with pytest.raises(
        ValueError, match=rf"cluster_name: RayCluster {NS}/k8sauth has spec.authOptions.enableK8sTokenAuth"
    ) as info:
        _run_job(cluster=None, cluster_name="k8sauth").execute(context_for())
    assert "submit with KubeRaySubmitJobOperator(cluster_name=...)" in str(info.value)
    assert kube.calls("POST") == []


def test_bad_spec_fails_before_any_api_call(kube: FakeKubeApi) -> None:
    with pytest.raises(ValueError, match="submissionMode"):
        _run_job(submission_mode="Nope").execute(context_for())
    assert [c for c in kube.requests if "/apis/ray.io" in c[1]] == []


def test_deferrable_run_job_defers_with_names_only(kube: FakeKubeApi) -> None:
    ti = FakeTaskInstance()
    with pytest.raises(TaskDeferred) as deferred:
        _run_job(deferrable=True).execute(context_for(ti))
    trigger = deferred.value.trigger
    assert isinstance(trigger, RayJobTrigger)
    _, kwargs = trigger.serialize()
    assert kwargs["name"] == _job_name(ti)
    assert kwargs["namespace"] == NS
    assert "token" not in str(kwargs)


def test_triggers_share_one_watch_and_never_block_the_loop(kube: FakeKubeApi) -> None:
    names = [f"job-{i}" for i in range(5)]
    for name in names:
        kube.put_object("RayJob", {"metadata": {"name": name, "namespace": NS}, "spec": {"entrypoint": "x"}})

    async def wait_all() -> tuple[list[dict[str, Any]], int]:
        triggers = [RayJobTrigger(name, NS, "kuberay_default", stream_logs=False, resync_interval=30) for name in names]
        waiting = [asyncio.ensure_future(first_event(t)) for t in triggers]
        await asyncio.sleep(1.0)
        active = WatchHub.active_watches()
        for name in names:
            await asyncio.to_thread(kube.set_status, "RayJob", NS, name, COMPLETE)
        return list(await asyncio.gather(*waiting)), active

    # The client's TLS context (the CA bundle parse) and the kubeconfig are built off the loop.
    (events, active), slow = run_watched(wait_all())
    assert active == 1
    assert [e["outcome"] for e in events] == ["succeeded"] * 5
    watches = [c for c in kube.calls("GET", f"/apis/ray.io/v1/namespaces/{NS}/rayjobs") if c[2].get("watch")]
    assert len(watches) == 1
    assert slow == []


def test_triggers_on_a_live_watch_read_no_object_of_their_own(kube: FakeKubeApi) -> None:
    """The shared watch's list and its periodic re-list serve every trigger: requests stay flat in N."""
    names = [f"quiet-{i}" for i in range(5)]
    for name in names:
        kube.put_object("RayJob", {"metadata": {"name": name, "namespace": NS}, "spec": {"entrypoint": "x"}})

    async def wait_all() -> list[dict[str, Any]]:
        # resync_interval far below the waiting time: without a live watch each would re-read several times.
        triggers = [RayJobTrigger(n, NS, "kuberay_default", stream_logs=False, resync_interval=0.2) for n in names]
        waiting = [asyncio.ensure_future(first_event(t)) for t in triggers]
        await asyncio.sleep(1.5)
        for name in names:
            await asyncio.to_thread(kube.set_status, "RayJob", NS, name, COMPLETE)
        return list(await asyncio.gather(*waiting))

    events, slow = run_watched(wait_all())
    assert [e["outcome"] for e in events] == ["succeeded"] * 5
    own_reads = [c for name in names for c in kube.calls("GET", f"/apis/ray.io/v1/namespaces/{NS}/rayjobs/{name}")]
    assert own_reads == []
    assert slow == []


def test_create_cluster_waits_until_ready_and_reports_the_dashboard(kube: FakeKubeApi) -> None:
    ti = FakeTaskInstance()
    name = resource_name(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, kind="RayCluster")
    _status_once_created(kube, "RayCluster", name, READY)
    op = KubeRayCreateClusterOperator(task_id="task", cluster=CLUSTER, deferrable=False, resync_interval=0.5)
    assert op.execute(context_for(ti)) == {
        "cluster_name": name,
        "namespace": NS,
        "dashboard_url": f"https://ray.test/{NS}/{name}",
    }


def test_create_cluster_fails_fast_on_replica_failure_and_cleans_up(kube: FakeKubeApi) -> None:
    ti = FakeTaskInstance()
    name = resource_name(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, kind="RayCluster")
    kube.add_event(name, "FailedCreateHeadPod", "exceeded quota: cpu", namespace=NS, type="Warning")
    failure = {
        "conditions": [
            {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreateHeadPod", "message": "quota"}
        ]
    }
    _status_once_created(kube, "RayCluster", name, failure)
    op = KubeRayCreateClusterOperator(task_id="task", cluster=CLUSTER, deferrable=False, resync_interval=0.5)
    with pytest.raises(KubeRayResourceFailedError, match="FailedCreateHeadPod") as info:
        op.execute(context_for(ti))
    assert "exceeded quota: cpu" in str(info.value)
    assert kube.get("RayCluster", NS, name) is None  # it created it, so it deletes it


def test_create_cluster_from_a_raw_body(kube: FakeKubeApi) -> None:
    raw = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "raw-cluster"},
        "spec": {
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.52.0"}]}},
            }
        },
    }
    op = KubeRayCreateClusterOperator(task_id="task", cluster=raw, wait_until_ready=False)
    assert op.execute(context_for())["cluster_name"] == "raw-cluster"
    stored = kube.get("RayCluster", NS, "raw-cluster")
    assert stored is not None
    assert stored["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "airflow-provider-kuberay"


def test_delete_cluster_is_idempotent_and_waits_for_pods(kube: FakeKubeApi) -> None:
    kube.put_object("RayCluster", {"metadata": {"name": "c", "namespace": NS}, "spec": {}})
    kube.add_pod("c-head", NS, labels={"ray.io/cluster": "c"})
    _later(0.6, lambda: kube.remove_object("Pod", NS, "c-head"))
    op = KubeRayDeleteClusterOperator(task_id="d", cluster_name="c", poll_interval=0.1)
    assert op.execute(context_for()) is True
    assert kube.get("Pod", NS, "c-head") is None
    assert op.execute(context_for()) is False  # already gone: still a success


def test_sensors_read_cluster_and_rayjob_verdicts(kube: FakeKubeApi) -> None:
    kube.put_object("RayCluster", {"metadata": {"name": "c", "namespace": NS}, "spec": {}})
    cluster_sensor = KubeRayClusterSensor(task_id="s", cluster_name="c")
    assert cluster_sensor.poke(context_for()) is False
    kube.set_status("RayCluster", NS, "c", READY)
    assert cluster_sensor.poke(context_for()) is True
    kube.put_object("RayJob", {"metadata": {"name": "j", "namespace": NS}, "spec": {"entrypoint": "x"}})
    job_sensor = KubeRayJobSensor(task_id="j", job_name="j")
    assert job_sensor.poke(context_for()) is False
    kube.set_status("RayJob", NS, "j", FAILED)
    with pytest.raises(RayJobFailedError, match="AppFailed"):
        job_sensor.poke(context_for())
    with pytest.raises(ValueError, match="exactly one"):
        KubeRayJobSensor(task_id="x", job_name="j", submission_id="s")


def test_rayjob_trigger_deadline_and_deletion(kube: FakeKubeApi) -> None:
    kube.put_object("RayJob", {"metadata": {"name": "slow", "namespace": NS}, "spec": {"entrypoint": "x"}})
    event, _ = run_watched(
        first_event(RayJobTrigger("slow", NS, "kuberay_default", deadline=time.time() + 0.5, stream_logs=False))
    )
    assert event["outcome"] == "timeout"
    assert kube.get("RayJob", NS, "slow") is not None  # triggers never delete
    _later(0.3, lambda: kube.remove_object("RayJob", NS, "slow"))
    event, _ = run_watched(first_event(RayJobTrigger("slow", NS, "kuberay_default", stream_logs=False)))
    assert (event["outcome"], event["reason"]) == ("failed", "NotFound")


# -- OpenLineage: the run facet, and the parent run handed to the RayJob ----------------------------------------


def test_run_job_lineage_names_the_rayjob_its_ray_job_and_cluster_and_hands_down_the_parent(
    kube: FakeKubeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from airflow_provider_kuberay.lineage import parent
    from airflow_provider_kuberay.operators import run_job

    lineage = ParentRun("ns", "dag.task", "run-1", "ns", "dag", "dag-run-1")
    monkeypatch.setattr(parent, "parent_run", lambda ti: lineage)
    ti = FakeTaskInstance()
    name = _job_name(ti)
    monkeypatch.setattr(run_job, "current_context", lambda: context_for(ti))
    op = _run_job(runtime_env={"env_vars": {"MINE": "1"}})
    start = op.get_openlineage_facets_on_start().run_facets["kuberay"]
    assert (start.rayJobName, start.submissionId, start.rayClusterName) == (name, None, None)
    _status_once_created(kube, "RayJob", name, COMPLETE)
    op.execute(context_for(ti))
    created = kube.get("RayJob", NS, name)
    assert created is not None
    env_vars = yaml.safe_load(created["spec"]["runtimeEnvYAML"])["env_vars"]
    assert env_vars == {"MINE": "1", **lineage.env_vars()}
    end = op.get_openlineage_facets_on_complete(ti).run_facets
    assert (end["kuberay"].rayJobName, end["kuberay"].namespace, end["kuberay"].rayClusterName) == (name, NS, "rc-1")
    assert (end["kuberay"].submissionId, end["kuberay"].status) == ("rayjob-x-abc", "SUCCEEDED")
    assert end["externalQuery"].externalQueryId == "rayjob-x-abc"


def test_create_cluster_lineage_names_the_cluster_and_its_dashboard(kube: FakeKubeApi) -> None:
    ti = FakeTaskInstance()
    name = resource_name(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, kind="RayCluster")
    _status_once_created(kube, "RayCluster", name, READY)
    op = KubeRayCreateClusterOperator(task_id="task", cluster=CLUSTER, deferrable=False, resync_interval=0.5)
    op.execute(context_for(ti))
    facet = op.get_openlineage_facets_on_complete(ti).run_facets["kuberay"]
    assert (facet.rayClusterName, facet.namespace) == (name, NS)
    assert facet.dashboardUrl == f"https://ray.test/{NS}/{name}"
    assert facet.submissionId is None
