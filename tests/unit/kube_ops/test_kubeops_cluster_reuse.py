"""
``KubeRayCreateClusterOperator(if_exists=..., cluster_ttl=...)`` and
``KubeRayDeleteExpiredClustersOperator``, with the Kubernetes API faked at the HTTP boundary.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_kuberay.exceptions import KubeRayConflictError
from airflow_provider_kuberay.operators import KubeRayCreateClusterOperator, KubeRayDeleteExpiredClustersOperator
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, Resources
from airflow_provider_kuberay.tasks.cluster_lifecycle import (
    DAG_ID_ANNOTATION,
    EXPIRES_AT_ANNOTATION,
    RUN_ID_ANNOTATION,
    SPEC_HASH_LABEL,
)
from tests.support.airflow_context import FakeTaskInstance, context_for
from tests.support.fake_kube_api import FakeKubeApi

CLUSTER = ClusterSpec(image="rayproject/ray:2.52.0", ray_version="2.52.0", head=HeadGroup())
NS = "ml"
NAME = "team-cluster"


def _create(ti: FakeTaskInstance, cluster: ClusterSpec = CLUSTER, **kwargs: Any) -> dict[str, Any]:
    op = KubeRayCreateClusterOperator(
        task_id=ti.task_id, cluster=cluster, cluster_name=NAME, wait_until_ready=False, **kwargs
    )
    return op.execute(context_for(ti))


def _run(run_id: str) -> FakeTaskInstance:
    return FakeTaskInstance(dag_id="nightly", task_id="create", run_id=run_id)


def _stored(kube: FakeKubeApi, name: str = NAME) -> dict[str, Any]:
    stored = kube.get("RayCluster", NS, name)
    assert stored is not None
    return stored


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"if_exists": "update"}, "if_exists must be one of 'fail', 'reuse', 'replace', got 'update'"),
        ({"cluster_ttl": 0}, "cluster_ttl must be a timedelta or a number of seconds > 0"),
        ({"cluster_ttl": "1h"}, "cluster_ttl must be a timedelta"),
    ],
)
def test_bad_policy_or_ttl_fails_before_any_api_call(kube: FakeKubeApi, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KubeRayCreateClusterOperator(task_id="t", cluster=CLUSTER, **kwargs)
    assert kube.calls() == []


def test_created_cluster_carries_spec_hash_run_and_expiry(kube: FakeKubeApi) -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    _create(_run("r1"), cluster_ttl=timedelta(hours=2))
    metadata = _stored(kube)["metadata"]
    assert len(metadata["labels"][SPEC_HASH_LABEL]) == 32
    assert metadata["annotations"][DAG_ID_ANNOTATION] == "nightly"
    assert metadata["annotations"][RUN_ID_ANNOTATION] == "r1"
    expiry = datetime.strptime(metadata["annotations"][EXPIRES_AT_ANNOTATION], "%Y-%m-%dT%H:%M:%SZ")
    expiry = expiry.replace(tzinfo=timezone.utc)
    assert before + timedelta(hours=2) <= expiry <= datetime.now(timezone.utc) + timedelta(hours=2)


def test_default_policy_still_fails_on_a_cluster_of_another_run(kube: FakeKubeApi) -> None:
    _create(_run("r1"))
    with pytest.raises(KubeRayConflictError, match=f"RayCluster {NS}/{NAME} exists and was not created by this task"):
        _create(_run("r2"))


def test_reuse_adopts_a_cluster_of_the_same_spec_made_by_an_earlier_run(kube: FakeKubeApi) -> None:
    _create(_run("r1"), if_exists="reuse", cluster_ttl=60)
    first = _stored(kube)
    result = _create(_run("r2"), if_exists="reuse", cluster_ttl=3600)
    assert result["cluster_name"] == NAME
    second = _stored(kube)
    assert second["metadata"]["uid"] == first["metadata"]["uid"]  # the same object, not recreated
    assert kube.calls("DELETE") == []
    # The reusing run is now the cluster's run, and the expiry is renewed from now.
    assert second["metadata"]["annotations"][RUN_ID_ANNOTATION] == "r2"
    assert (
        second["metadata"]["annotations"][EXPIRES_AT_ANNOTATION]
        > first["metadata"]["annotations"][EXPIRES_AT_ANNOTATION]
    )


def test_reuse_refuses_a_cluster_whose_spec_differs(kube: FakeKubeApi) -> None:
    _create(_run("r1"), if_exists="reuse")
    bigger = dataclasses.replace(CLUSTER, head=HeadGroup(resources=Resources(cpu=4, memory="8Gi")))
    with pytest.raises(KubeRayConflictError) as info:
        _create(_run("r2"), bigger, if_exists="reuse")
    assert f"RayCluster {NS}/{NAME} exists and cannot be reused: its spec differs" in str(info.value)
    assert kube.calls("DELETE") == []
    assert kube.calls("PATCH") == []


def test_reuse_refuses_a_cluster_without_a_spec_hash(kube: FakeKubeApi) -> None:
    kube.put_object("RayCluster", {"metadata": {"name": NAME, "namespace": NS}, "spec": {}})
    with pytest.raises(KubeRayConflictError, match=r"has no kuberay\.airflow\.apache\.org/spec-hash label"):
        _create(_run("r1"), if_exists="reuse")


def test_replace_deletes_and_recreates_a_provider_made_cluster(kube: FakeKubeApi) -> None:
    _create(_run("r1"))
    old_uid = _stored(kube)["metadata"]["uid"]
    bigger = dataclasses.replace(CLUSTER, head=HeadGroup(resources=Resources(cpu=4, memory="8Gi")))
    _create(_run("r2"), bigger, if_exists="replace", cluster_ttl=60)
    new = _stored(kube)
    assert new["metadata"]["uid"] != old_uid
    assert new["metadata"]["annotations"][RUN_ID_ANNOTATION] == "r2"
    assert len(kube.calls("DELETE", f"/apis/ray.io/v1/namespaces/{NS}/rayclusters/{NAME}")) == 1


def test_replace_never_deletes_a_cluster_the_provider_did_not_make(kube: FakeKubeApi) -> None:
    kube.put_object("RayCluster", {"metadata": {"name": NAME, "namespace": NS, "labels": {"team": "a"}}, "spec": {}})
    with pytest.raises(KubeRayConflictError, match="was not created by this provider"):
        _create(_run("r1"), if_exists="replace")
    assert kube.calls("DELETE") == []
    assert _stored(kube)["metadata"]["labels"] == {"team": "a"}


class _RunStates(FakeTaskInstance):
    """A task instance whose Task SDK answers DAG run states from a table (404 for unknown runs)."""

    states: dict[str, str] = {}

    def get_dagrun_state(self, dag_id: str, run_id: str) -> str:
        if run_id == "unreadable":
            raise RuntimeError("API server unavailable")
        if run_id not in self.states:
            error = type("Error", (), {"detail": {"status_code": 404, "message": "not found"}})()
            raise type("AirflowRuntimeError", (Exception,), {"error": error})("API_SERVER_ERROR")
        return self.states[run_id]


def _cluster(name: str, *, expires: datetime | None, run_id: str = "done", provider: bool = True) -> dict[str, Any]:
    annotations = {DAG_ID_ANNOTATION: "nightly", RUN_ID_ANNOTATION: run_id}
    if expires is not None:
        annotations[EXPIRES_AT_ANNOTATION] = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    labels = {"app.kubernetes.io/managed-by": "airflow-provider-kuberay"} if provider else {"team": "a"}
    return {"metadata": {"name": name, "namespace": NS, "labels": labels, "annotations": annotations}, "spec": {}}


def test_expiry_operator_deletes_only_expired_provider_made_clusters_of_ended_runs(kube: FakeKubeApi) -> None:
    past = datetime.now(timezone.utc) - timedelta(minutes=5)
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    clusters = [
        _cluster("expired-success", expires=past, run_id="done"),
        _cluster("expired-failed", expires=past, run_id="failed"),
        _cluster("expired-run-deleted", expires=past, run_id="gone"),
        _cluster("expired-run-running", expires=past, run_id="live"),
        _cluster("expired-run-unreadable", expires=past, run_id="unreadable"),
        _cluster("not-yet", expires=future),
        _cluster("no-expiry", expires=None),
        _cluster("not-ours", expires=past, provider=False),
    ]
    for body in clusters:
        kube.put_object("RayCluster", body)
    ti = _RunStates(task_id="expire")
    ti.states = {"done": "success", "failed": "failed", "live": "running"}
    deleted = KubeRayDeleteExpiredClustersOperator(task_id="expire").execute(context_for(ti))
    assert sorted(deleted) == ["expired-failed", "expired-run-deleted", "expired-success"]
    remaining = {c["metadata"]["name"] for c in clusters} - set(deleted)
    assert all(kube.get("RayCluster", NS, name) is not None for name in remaining)
    assert all(kube.get("RayCluster", NS, name) is None for name in deleted)
