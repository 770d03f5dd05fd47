"""
Kueue's reason for holding a job, read from the job's Workload (faked at the HTTP boundary): the task
log says it, again when it changes, the deadline's message carries it, and a Workload that cannot be
read (no RBAC, no Kueue API) leaves the queue-only message and never fails the task.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_kuberay.operators import KubeRayRunJobOperator
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup
from airflow_provider_kuberay.status.kueue import workload_hold
from airflow_provider_kuberay.triggers.ray_job import RayJobTrigger
from tests.support.background import act_once
from tests.support.fake_kube_api import FakeKubeApi

CLUSTER = ClusterSpec(image="rayproject/ray:2.52.0", ray_version="2.52.0", head=HeadGroup())
NS = "ml"  # the namespace of the `kube` fixture's connection (conftest.py)
WORKLOADS = "/apis/kueue.x-k8s.io/"
NO_QUOTA = (
    "couldn't assign flavors to pod set head: insufficient quota for cpu in flavor default, "
    "previously considered podsets requests (0) + current podset request (64) > maximum capacity (2)"
)


def _condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


def _held_job(kube: FakeKubeApi, name: str = "held") -> str:
    """A queued RayJob (suspended, labelled), as the operator creates it; returns its uid."""
    op = KubeRayRunJobOperator(task_id="task", entrypoint="python a.py", cluster=CLUSTER, queue_name="team-a")
    return str(kube.put_object("RayJob", op.build_body(name, NS, {}), NS)["metadata"]["uid"])


def _workload(kube: FakeKubeApi, uid: str, *conditions: dict[str, str]) -> None:
    body = {"metadata": {"name": "rayjob-held-1", "labels": {"kueue.x-k8s.io/job-uid": uid}}}
    kube.put_object("Workload", {**body, "status": {"conditions": list(conditions)}}, NS)


def _first_event(trigger: RayJobTrigger) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    return asyncio.run(first())


def _queued_lines(out: str) -> list[str]:
    """The task log's "queued" lines, without the log's time stamp and logger name."""
    return [line[line.index("RayJob") : line.rindex(" [")] for line in out.splitlines() if "is queued in Kueue" in line]


def test_kueue_reason_is_logged_again_when_it_changes_and_ends_the_deadline_message(
    kube: FakeKubeApi, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("airflow_provider_kuberay.triggers.kuberay_resource.KUEUE_REREAD_FIRST", 0.2)
    uid = _held_job(kube)
    _workload(kube, uid, _condition("QuotaReserved", "False", "Pending", NO_QUOTA))

    evicted = _condition("Evicted", "True", "Preempted", "Preempted to accommodate a higher priority Workload")
    # Once the trigger has read the Workload twice, it has logged the first reason: a fixed 0.8 s sleep lost
    # the race to a slow trigger start on a loaded host.
    act_once(
        lambda: len(kube.calls("GET", WORKLOADS)) >= 2,
        lambda: kube.set_status("Workload", NS, "rayjob-held-1", {"conditions": [evicted]}),
    )
    trigger = RayJobTrigger("held", NS, "kuberay_default", deadline=time.time() + 4.0, resync_interval=0.1)
    payload = _first_event(trigger)

    assert payload["outcome"] == "timeout"
    assert payload["message"].endswith(
        "still queued in Kueue LocalQueue 'team-a': Preempted: Preempted to accommodate a higher priority Workload"
    )
    assert _queued_lines(capsys.readouterr().out) == [
        f"RayJob {NS}/held is queued in Kueue LocalQueue 'team-a': Pending: {NO_QUOTA}",
        f"RayJob {NS}/held is queued in Kueue LocalQueue 'team-a': "
        "Preempted: Preempted to accommodate a higher priority Workload",
    ]
    # Read while held only, and less often than the job is judged (~40 times in 4 s).
    reads = kube.calls("GET", WORKLOADS)
    assert 2 <= len(reads) <= 10, reads
    assert all(query["labelSelector"] == f"kueue.x-k8s.io/job-uid={uid}" for _, _, query in reads)


@pytest.mark.parametrize("status", [403, 404])
def test_unreadable_workloads_keep_the_queue_only_message(
    kube: FakeKubeApi, capsys: pytest.CaptureFixture[str], status: int
) -> None:
    # 403: the Role lacks workloads.kueue.x-k8s.io; 404: no Kueue API is served at all.
    uid = _held_job(kube)
    _workload(kube, uid, _condition("QuotaReserved", "False", "Pending", NO_QUOTA))
    kube.fail_next(WORKLOADS, status, times=100)
    trigger = RayJobTrigger("held", NS, "kuberay_default", deadline=time.time() + 1.0, resync_interval=0.1)
    payload = _first_event(trigger)

    assert payload["outcome"] == "timeout"
    assert payload["message"].endswith("still queued in Kueue LocalQueue 'team-a', waiting to be admitted")
    out = capsys.readouterr().out
    assert _queued_lines(out) == [f"RayJob {NS}/held is queued in Kueue LocalQueue 'team-a', waiting to be admitted"]
    assert f"Kueue's reason for holding RayJob {NS}/held cannot be read" in out
    # Given up at once: one request per API version tried, none later.
    assert len(kube.calls("GET", WORKLOADS)) == (1 if status == 403 else 2)


def test_no_workload_yet_keeps_the_queue_only_message(kube: FakeKubeApi) -> None:
    _held_job(kube)
    trigger = RayJobTrigger("held", NS, "kuberay_default", deadline=time.time() + 0.5, resync_interval=0.1)
    payload = _first_event(trigger)
    assert payload["message"].endswith("still queued in Kueue LocalQueue 'team-a', waiting to be admitted")


def test_a_job_not_held_reads_no_workload(kube: FakeKubeApi) -> None:
    op = KubeRayRunJobOperator(task_id="task", entrypoint="python a.py", cluster=CLUSTER)
    kube.put_object("RayJob", op.build_body("free", NS, {}), NS)
    kube.set_status("RayJob", NS, "free", {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"})
    trigger = RayJobTrigger(
        "free", NS, "kuberay_default", deadline=time.time() + 0.5, resync_interval=0.1, stream_logs=False
    )
    assert _first_event(trigger)["outcome"] == "timeout"
    assert kube.calls("GET", WORKLOADS) == []


def test_the_sync_hook_lists_a_jobs_workloads_by_its_uid(kube: FakeKubeApi) -> None:
    from airflow_provider_kuberay.hooks.kuberay import KubeRayHook

    uid = _held_job(kube)
    _workload(kube, uid, _condition("QuotaReserved", "False", "Pending", NO_QUOTA))
    hook = KubeRayHook()
    assert [wl["metadata"]["name"] for wl in hook.list_workloads(uid, NS)] == ["rayjob-held-1"]
    assert hook.list_workloads("another-uid", NS) == []


def test_workload_hold_prefers_eviction_then_quota_then_admission() -> None:
    def wl(*conditions: dict[str, str]) -> dict[str, Any]:
        return {"status": {"conditions": list(conditions)}}

    reserved = _condition("QuotaReserved", "True", "QuotaReserved", "Quota reserved in ClusterQueue cq")
    checks = _condition("Admitted", "False", "NoChecks", "The workload has not all checks ready")
    no_quota = _condition("QuotaReserved", "False", "Inadmissible", "LocalQueue team-a doesn't exist")
    evicted = _condition("Evicted", "True", "Preempted", "Preempted")
    assert workload_hold([wl(reserved, checks)]) == "NoChecks: The workload has not all checks ready"
    assert workload_hold([wl(no_quota)]) == "Inadmissible: LocalQueue team-a doesn't exist"
    assert workload_hold([wl(no_quota, evicted)]) == "Preempted: Preempted"
    assert workload_hold([wl(), {"status": None}]) == ""
    assert workload_hold([]) == ""
