"""Pure pieces of the Kubernetes-side operators and triggers."""

from __future__ import annotations

import pytest

from airflow_provider_kuberay.operators import KubeRayRunJobOperator
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup
from airflow_provider_kuberay.tasks.failure import failure_text
from airflow_provider_kuberay.tasks.identity import TASK_LABEL, TRY_LABEL, TaskIdentity
from airflow_provider_kuberay.triggers.events import ClusterEvent, Outcome, event_from_payload
from airflow_provider_kuberay.triggers.kuberay_resource import describe_events
from airflow_provider_kuberay.triggers.ray_cluster import RayClusterReadyTrigger, replica_failure, unschedulable_pods
from airflow_provider_kuberay.triggers.ray_job import RayJobTrigger, submission_mode

CLUSTER = ClusterSpec(image="rayproject/ray:2.52.0", ray_version="2.52.0", head=HeadGroup())


def test_identity_labels_are_valid_and_recognise_their_own_objects() -> None:
    identity = TaskIdentity("my dag/ä", "train", "manual__2026-01-01T00:00:00+00:00", -1, 2)
    labels = identity.labels()
    assert all(len(v) <= 63 for v in labels.values())
    assert labels["airflow.apache.org/dag-id"] == "my-dag"
    owned = {"metadata": {"labels": {TASK_LABEL: identity.key, TRY_LABEL: "1"}}}
    assert identity.owns(owned)
    assert identity.created_in_earlier_try(owned)
    assert not identity.created_in_earlier_try({"metadata": {"labels": {TASK_LABEL: identity.key, TRY_LABEL: "2"}}})
    assert not identity.owns({"metadata": {"labels": {TASK_LABEL: "someone-else"}}})
    other_run = TaskIdentity("my dag/ä", "train", "other", -1, 1)
    assert other_run.key != identity.key


def test_failure_text_has_reason_message_logs_and_events() -> None:
    text = failure_text(
        event_from_payload(
            {
                "kind": "RayJob",
                "name": "j",
                "namespace": "ns",
                "outcome": "failed",
                "reason": "AppFailed",
                "message": "Job entrypoint command failed",
                "job_status": "FAILED",
                "job_deployment_status": "Failed",
                "log_tail": "Traceback\nValueError: x",
                "events": ["Warning BackOff: restarting"],
            }
        )
    )
    assert text.startswith("RayJob ns/j failed (AppFailed): Job entrypoint command failed")
    assert "Ray job status: FAILED, deployment: Failed" in text
    assert "ValueError: x" in text
    assert "Warning BackOff: restarting" in text
    assert "did not finish before the task's deadline" in failure_text(
        ClusterEvent(name="c", namespace="ns", outcome=Outcome.TIMEOUT)
    )


def test_unschedulable_pods_and_replica_failure_are_detected() -> None:
    pods = [
        {
            "metadata": {"name": "head"},
            "status": {
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/3 nodes have gpu",
                    }
                ]
            },
        },
        {"metadata": {"name": "ok"}, "status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}},
    ]
    assert unschedulable_pods(pods) == ["head: 0/3 nodes have gpu"]
    failing = {
        "status": {
            "conditions": [
                {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreateHeadPod", "message": "quota"}
            ]
        }
    }
    assert replica_failure(failing) == failing["status"]["conditions"][0]
    assert replica_failure({"status": {"conditions": [{"type": "ReplicaFailure", "status": "False"}]}}) is None


def test_events_are_described_warnings_first() -> None:
    lines = describe_events(
        [
            {"type": "Normal", "reason": "Created", "message": "ok"},
            {"type": "Warning", "reason": "Failed", "message": "no"},
        ]
    )
    assert lines == ["Warning Failed: no", "Normal Created: ok"]


def test_triggers_serialize_everything_to_resume() -> None:
    for trigger in (
        RayClusterReadyTrigger(
            "c", "ns", "kr", deadline=5.0, resync_interval=3, fail_fast=False, unschedulable_grace=9
        ),
        RayJobTrigger("j", "ns", "kr", deadline=None, stream_logs=False, log_tail_lines=7),
    ):
        classpath, kwargs = trigger.serialize()
        module, _, name = classpath.rpartition(".")
        rebuilt = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
        assert rebuilt.serialize() == (classpath, kwargs)
    assert submission_mode({"spec": {}}) == "K8sJobMode"
    assert submission_mode({"spec": {"submissionMode": "HTTPMode"}}) == "HTTPMode"


def test_run_job_operator_validates_before_any_call() -> None:
    with pytest.raises(ValueError, match="not both"):
        KubeRayRunJobOperator(task_id="t", entrypoint="x", cluster=CLUSTER, cluster_name="c")
    op = KubeRayRunJobOperator(task_id="t", entrypoint="python a.py", cluster=CLUSTER)
    body = op.build_body("job-1", "ns", {"a": "b"})
    assert body["spec"]["shutdownAfterJobFinishes"] is True
    assert body["spec"]["ttlSecondsAfterFinished"] == 300
    assert body["metadata"]["labels"] == {"a": "b"}
    existing = KubeRayRunJobOperator(task_id="t", entrypoint="python a.py", cluster_name="shared")
    spec = existing.build_body("job-2", "ns", {})["spec"]
    assert spec["clusterSelector"] == {"ray.io/cluster": "shared"}
    assert "shutdownAfterJobFinishes" not in spec
    assert "ttlSecondsAfterFinished" not in spec
    with pytest.raises(ValueError, match="cluster"):
        KubeRayRunJobOperator(task_id="t", entrypoint="x").build_body("j", "ns", {})
    with pytest.raises(ValueError, match="submissionMode"):
        KubeRayRunJobOperator(task_id="t", entrypoint="x", cluster=CLUSTER, submission_mode="Bogus").build_body(
            "j", "ns", {}
        )
