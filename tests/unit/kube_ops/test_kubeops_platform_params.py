"""
The shared-platform parameters (RayJob lifecycle settings, labels, annotations, Kueue queue and
priority) on KubeRayRunJobOperator, @task.kuberay and KubeRayCreateClusterOperator, with the
Kubernetes API faked at the HTTP boundary: what reaches the API, what is refused before it, and
what the task log says while Kueue holds a job.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from airflow_provider_kuberay.operators import KubeRayCreateClusterOperator, KubeRayRunJobOperator
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, ray_cluster_body, resource_name
from airflow_provider_kuberay.status import Phase, cluster_verdict, job_verdict
from tests.support.airflow_context import FakeTaskInstance, context_for
from tests.support.fake_kube_api import FakeKubeApi

CLUSTER = ClusterSpec(image="rayproject/ray:2.52.0", ray_version="2.52.0", head=HeadGroup())
NS = "ml"  # the namespace of the `kube` fixture's connection (conftest.py)
QUEUE = "kueue.x-k8s.io/queue-name"
PRIORITY = "kueue.x-k8s.io/priority-class"
SUBMITTER = {"spec": {"containers": [{"name": "submitter", "image": "rayproject/ray:2.52.0"}]}}
RULES = {
    "deletionRules": [
        {"policy": "DeleteWorkers", "condition": {"jobStatus": "FAILED", "ttlSeconds": 0}},
        {"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 60}},
    ]
}


def _run_job(**kwargs: Any) -> KubeRayRunJobOperator:
    defaults: dict[str, Any] = {
        "task_id": "task",
        "entrypoint": "python a.py",
        "cluster": CLUSTER,
        "deferrable": False,
        "resync_interval": 0.3,
    }
    return KubeRayRunJobOperator(**{**defaults, **kwargs})


def _created_rayjob(kube: FakeKubeApi, op: KubeRayRunJobOperator) -> dict[str, Any]:
    ti = FakeTaskInstance()
    op.wait_for_completion = False
    name = op.execute(context_for(ti))
    stored = kube.get("RayJob", NS, str(name))
    assert stored is not None
    return stored


def test_lifecycle_parameters_reach_the_rayjob(kube: FakeKubeApi) -> None:
    stored = _created_rayjob(
        kube,
        _run_job(
            pre_running_deadline_seconds=120,
            active_deadline_seconds=600,
            backoff_limit=2,
            submitter_pod_template=SUBMITTER,
            submitter_backoff_limit=1,
            ttl_seconds_after_finished=30,
        ),
    )
    spec = stored["spec"]
    assert spec["preRunningDeadlineSeconds"] == 120
    assert spec["activeDeadlineSeconds"] == 600
    assert spec["backoffLimit"] == 2
    assert spec["submitterPodTemplate"] == SUBMITTER
    assert spec["submitterConfig"] == {"backoffLimit": 1}
    assert (spec["shutdownAfterJobFinishes"], spec["ttlSecondsAfterFinished"]) == (True, 30)
    assert "suspend" not in spec


def test_deletion_rules_replace_shutdown_after_finish_by_default(kube: FakeKubeApi) -> None:
    spec = _created_rayjob(kube, _run_job(deletion_strategy=RULES))["spec"]
    assert spec["deletionStrategy"] == RULES
    assert spec["shutdownAfterJobFinishes"] is False
    assert "ttlSecondsAfterFinished" not in spec


def test_keeping_the_cluster_sends_no_ttl() -> None:
    spec = _run_job(shutdown_after_job_finishes=False).build_body("j", NS, {})["spec"]
    assert spec["shutdownAfterJobFinishes"] is False
    assert "ttlSecondsAfterFinished" not in spec
    legacy = {"onSuccess": {"policy": "DeleteCluster"}, "onFailure": {"policy": "DeleteNone"}}
    spec = _run_job(deletion_strategy=legacy, shutdown_after_job_finishes=False).build_body("j", NS, {})["spec"]
    assert spec["deletionStrategy"] == legacy


def test_metadata_and_kueue_parameters_reach_the_rayjob(kube: FakeKubeApi) -> None:
    stored = _created_rayjob(
        kube,
        _run_job(
            labels={"team": "vision"},
            annotations={"example.com/owner": "ana@example.com"},
            queue_name="team-a",
            priority_class="high",
        ),
    )
    labels = stored["metadata"]["labels"]
    assert (labels["team"], labels[QUEUE], labels[PRIORITY]) == ("vision", "team-a", "high")
    assert labels["app.kubernetes.io/managed-by"] == "airflow-provider-kuberay"  # the task's own stay
    assert stored["metadata"]["annotations"] == {"example.com/owner": "ana@example.com"}
    assert stored["spec"]["suspend"] is True  # Kueue admits it by resuming it
    assert stored["spec"]["shutdownAfterJobFinishes"] is True


def test_a_queue_given_as_a_label_also_creates_the_job_suspended() -> None:
    body = _run_job(labels={QUEUE: "team-a"}).build_body("j", NS, {})
    assert body["spec"]["suspend"] is True


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"pre_running_deadline_seconds": 0}, "preRunningDeadlineSeconds"),
        ({"pre_running_deadline_seconds": "soon"}, "pre_running_deadline_seconds"),
        ({"deletion_strategy": {"onSuccess": {"policy": "Vanish"}, "onFailure": {"policy": "DeleteNone"}}}, "policy"),
        ({"deletion_strategy": "DeleteCluster"}, "deletion_strategy"),
        ({"deletion_strategy": RULES, "shutdown_after_job_finishes": True}, "deletionRules"),
        ({"submitter_pod_template": "pod.yaml"}, "submitter_pod_template"),
        ({"submitter_pod_template": SUBMITTER, "submission_mode": "SidecarMode"}, "submitterPodTemplate"),
        ({"submitter_backoff_limit": -1}, "submitterConfig.backoffLimit"),
        ({"labels": {"bad key!": "x"}}, "labels"),
        ({"labels": {"team": "a b"}}, "labels['team']"),
        ({"annotations": "owner=ana"}, "annotations"),
        ({"queue_name": "Team A"}, "queue_name"),
        ({"queue_name": "team-a", "cluster": None, "cluster_name": "shared"}, "queue_name"),
        ({"queue_name": "team-a", "shutdown_after_job_finishes": False}, "queue_name"),
        ({"queue_name": "team-a", "deletion_strategy": RULES}, "queue_name"),
        ({"priority_class": "high"}, "priority_class"),
        ({"queue_name": "team-a", "labels": {QUEUE: "team-b"}}, QUEUE),
    ],
)
def test_bad_values_fail_before_any_api_call_naming_the_field(
    kube: FakeKubeApi, kwargs: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError, match=named.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        _run_job(**kwargs).execute(context_for())
    assert [call for call in kube.requests if "/apis/ray.io" in call[1]] == []


def test_a_job_held_by_kueue_is_logged_as_queued_then_runs(
    kube: FakeKubeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    ti = FakeTaskInstance()
    name = resource_name(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, kind="RayJob")

    def kueue_then_kuberay() -> None:
        for _ in range(300):
            if kube.get("RayJob", NS, name) is not None:
                break
            time.sleep(0.1)
        kube.set_status("RayJob", NS, name, {"jobDeploymentStatus": "Suspended"})
        time.sleep(1.5)
        with kube._lock:  # Kueue admits the job: it resumes it
            kube.objects[("RayJob", NS, name)]["spec"]["suspend"] = False
        complete = {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED", "jobId": "j1", "rayClusterName": "c"}
        kube.set_status("RayJob", NS, name, complete)

    threading.Thread(target=kueue_then_kuberay, daemon=True).start()
    summary = _run_job(queue_name="team-a", stream_logs=False).execute(context_for(ti))
    log = capsys.readouterr().out
    assert summary["job_status"] == "SUCCEEDED"
    assert f"RayJob {NS}/{name} is queued in Kueue LocalQueue 'team-a', waiting to be admitted" in log
    assert log.count("queued in Kueue") == 1  # said once, not at every re-read
    assert f"RayJob {NS}/{name} was admitted by Kueue" in log


def test_a_job_still_queued_at_the_deadline_names_its_queue(kube: FakeKubeApi) -> None:
    import asyncio

    from airflow_provider_kuberay.triggers.ray_job import RayJobTrigger

    body = _run_job(queue_name="team-a").build_body("held", NS, {})
    kube.put_object("RayJob", body, NS)
    trigger = RayJobTrigger("held", NS, "kuberay_default", deadline=time.time() + 1.0, resync_interval=0.3)

    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    payload = asyncio.run(first())
    assert payload["outcome"] == "timeout"
    assert "still queued in Kueue LocalQueue 'team-a'" in payload["message"]


def test_create_cluster_takes_the_shared_metadata_parameters(kube: FakeKubeApi) -> None:
    op = KubeRayCreateClusterOperator(
        task_id="task",
        cluster=CLUSTER,
        labels={"team": "vision"},
        annotations={"example.com/owner": "ana"},
        queue_name="team-a",
        priority_class="high",
        wait_until_ready=False,
    )
    name = op.execute(context_for())["cluster_name"]
    stored = kube.get("RayCluster", NS, name)
    assert stored is not None
    assert stored["metadata"]["labels"][QUEUE] == "team-a"
    assert stored["metadata"]["labels"][PRIORITY] == "high"
    assert stored["metadata"]["annotations"] == {"example.com/owner": "ana"}
    assert stored["spec"]["suspend"] is True
    assert cluster_verdict(stored).reason == "Queued"


def test_create_cluster_from_a_raw_body_is_queued_too(kube: FakeKubeApi) -> None:
    raw = ray_cluster_body("raw-queued", CLUSTER)  # a raw body, as a user would give it
    op = KubeRayCreateClusterOperator(task_id="task", cluster=raw, queue_name="team-a", wait_until_ready=False)
    op.execute(context_for())
    stored = kube.get("RayCluster", NS, "raw-queued")
    assert stored is not None
    assert (stored["spec"]["suspend"], stored["metadata"]["labels"][QUEUE]) == (True, "team-a")


def test_create_cluster_refuses_a_bad_queue_before_any_api_call(kube: FakeKubeApi) -> None:
    op = KubeRayCreateClusterOperator(task_id="task", cluster=CLUSTER, queue_name="team_a!", wait_until_ready=False)
    with pytest.raises(ValueError, match="queue_name"):
        op.execute(context_for())
    assert [call for call in kube.requests if "/apis/ray.io" in call[1]] == []


def test_the_decorator_takes_the_same_parameters() -> None:
    from airflow.sdk import DAG, task

    with DAG(dag_id="decorated_platform") as dag:

        @task.kuberay(
            cluster=CLUSTER,
            queue_name="team-a",
            priority_class="high",
            pre_running_deadline_seconds=300,
            deletion_strategy={"onSuccess": {"policy": "DeleteCluster"}, "onFailure": {"policy": "DeleteNone"}},
            submitter_pod_template=SUBMITTER,
        )
        def double(x: int) -> int:
            return x * 2

        double(21)
    spec_and_labels = dag.get_task("double").build_body("double-x", NS, {})  # type: ignore[attr-defined]
    spec = spec_and_labels["spec"]
    assert (spec["suspend"], spec["preRunningDeadlineSeconds"]) == (True, 300)
    assert spec["deletionStrategy"]["onFailure"] == {"policy": "DeleteNone"}
    assert spec["submitterPodTemplate"] == SUBMITTER
    assert spec_and_labels["metadata"]["labels"][PRIORITY] == "high"


def test_verdict_of_objects_held_by_kueue() -> None:
    held = {"metadata": {"labels": {QUEUE: "q"}}, "spec": {"suspend": True}}
    for verdict in (job_verdict(held), job_verdict({**held, "status": {"jobDeploymentStatus": "Suspended"}})):
        assert (verdict.phase, verdict.reason) == (Phase.SUSPENDED, "Queued")
        assert "LocalQueue 'q'" in verdict.message
    assert cluster_verdict(held).reason == "Queued"
    # Without a queue, or once resumed, the status decides as before.
    assert job_verdict({"spec": {"suspend": True}, "status": {"jobDeploymentStatus": "Suspended"}}).reason == (
        "Suspended"
    )
    resumed = {"metadata": held["metadata"], "spec": {"suspend": False}, "status": {"jobDeploymentStatus": "Running"}}
    assert job_verdict(resumed).phase is Phase.PENDING
    failed = {**held, "status": {"jobDeploymentStatus": "Failed", "reason": "PreRunningDeadlineExceeded"}}
    assert job_verdict(failed).failed
