"""
``KubeRayCreateClusterOperator(if_exists=...)`` across DAG runs and ``KubeRayDeleteExpiredClustersOperator``
against the real API server and KubeRay operator: reuse of a matching cluster, a refused mismatch,
replace, and the expiry operator deleting only expired clusters the provider made.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from k8s_support import provider_cluster, raycluster, task_instance

from airflow_provider_kuberay.exceptions import KubeRayConflictError
from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.operators import KubeRayCreateClusterOperator, KubeRayDeleteExpiredClustersOperator
from airflow_provider_kuberay.specs import HeadGroup, Resources
from airflow_provider_kuberay.tasks.cluster_lifecycle import EXPIRES_AT_ANNOTATION, RUN_ID_ANNOTATION
from tests.support.airflow_context import FakeTaskInstance, context_for

pytestmark = pytest.mark.k8s

CLUSTER = provider_cluster()


@pytest.fixture
def names(kuberay_conn: str) -> Iterator[list[str]]:
    """Cluster names a test uses; every one left is deleted (and waited for) at the end."""
    used: list[str] = []
    yield used
    hook = KubeRayHook()
    for name in used:
        hook.delete_object("RayCluster", name, kuberay_conn)
    for name in used:
        hook.wait_until_deleted("RayCluster", name, kuberay_conn, timeout=120)


def _name(names: list[str], prefix: str) -> str:
    names.append(f"{prefix}-{uuid.uuid4().hex[:6]}")
    return names[-1]


def _create(name: str, run_id: str, cluster: Any = CLUSTER, **kwargs: Any) -> dict[str, Any]:
    op = KubeRayCreateClusterOperator(
        task_id="cluster", cluster=cluster, cluster_name=name, deferrable=False, resync_interval=2, **kwargs
    )
    return op.execute(context_for(task_instance("cluster", run_id=run_id)))


def _uid(name: str, namespace: str) -> str:
    return str(KubeRayHook().get_object("RayCluster", name, namespace)["metadata"]["uid"])


def test_second_run_reuses_a_ready_cluster_of_the_same_spec(kuberay_conn: str, names: list[str]) -> None:
    name = _name(names, "reuse")
    first = _create(name, "run-1", if_exists="reuse", cluster_ttl=3600)
    uid = _uid(name, kuberay_conn)
    started = time.monotonic()
    second = _create(name, "run-2", if_exists="reuse", cluster_ttl=3600)
    took = time.monotonic() - started
    assert second == first  # same name, namespace and dashboard
    assert _uid(name, kuberay_conn) == uid  # the very same object
    stored = KubeRayHook().get_object("RayCluster", name, kuberay_conn)
    assert stored["metadata"]["annotations"][RUN_ID_ANNOTATION] == "run-2"
    assert took < 30, f"reusing a ready cluster took {took:.1f}s"


def test_reuse_with_a_different_spec_fails_naming_the_cluster(kuberay_conn: str, names: list[str]) -> None:
    name = _name(names, "mismatch")
    _create(name, "run-1", if_exists="reuse", wait_until_ready=False)
    uid = _uid(name, kuberay_conn)
    bigger = dataclasses.replace(CLUSTER, head=HeadGroup(resources=Resources(cpu=1, memory="3Gi")))
    with pytest.raises(KubeRayConflictError) as info:
        _create(name, "run-2", bigger, if_exists="reuse", wait_until_ready=False)
    assert f"RayCluster {kuberay_conn}/{name} exists and cannot be reused: its spec differs" in str(info.value)
    assert _uid(name, kuberay_conn) == uid  # left as it was


def test_replace_deletes_and_recreates_the_cluster(kuberay_conn: str, names: list[str]) -> None:
    name = _name(names, "replace")
    _create(name, "run-1", wait_until_ready=False)
    uid = _uid(name, kuberay_conn)
    bigger = dataclasses.replace(CLUSTER, head=HeadGroup(resources=Resources(cpu=1, memory="3Gi")))
    _create(name, "run-2", bigger, if_exists="replace", cluster_ttl=3600, wait_until_ready=False)
    stored = KubeRayHook().get_object("RayCluster", name, kuberay_conn)
    assert stored["metadata"]["uid"] != uid
    assert stored["metadata"]["annotations"][RUN_ID_ANNOTATION] == "run-2"
    head = stored["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert head["resources"]["requests"]["memory"] == "3Gi"


class _Runs(FakeTaskInstance):
    """The expiry task's instance; DAG run states come from this table, as the Task SDK would give them."""

    runs: dict[str, str] = {}

    def get_dagrun_state(self, dag_id: str, run_id: str) -> str:
        return self.runs[run_id]


def test_expiry_deletes_only_expired_provider_made_clusters_of_ended_runs(kuberay_conn: str, names: list[str]) -> None:
    expired_done, expired_live, fresh, no_ttl, foreign = (
        _name(names, prefix) for prefix in ("exp-done", "exp-live", "fresh", "no-ttl", "foreign")
    )
    _create(expired_done, "done", cluster_ttl=1, wait_until_ready=False)
    _create(expired_live, "live", cluster_ttl=1, wait_until_ready=False)
    _create(fresh, "done", cluster_ttl=3600, wait_until_ready=False)
    _create(no_ttl, "done", wait_until_ready=False)
    body = raycluster(foreign, kuberay_conn, workers=0)
    past = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body["metadata"]["annotations"] = {EXPIRES_AT_ANNOTATION: past}
    KubeRayHook().create_object("RayCluster", body, kuberay_conn)
    time.sleep(2)  # the 1 s expiries pass
    ti = _Runs(dag_id="k8s_tier", task_id="expire")
    ti.runs = {"done": "success", "live": "running"}
    deleted = KubeRayDeleteExpiredClustersOperator(
        task_id="expire", wait_for_deletion=True, timeout_seconds=120
    ).execute(context_for(ti))
    assert expired_done in deleted
    assert not {expired_live, fresh, no_ttl, foreign} & set(deleted)
    hook = KubeRayHook()
    assert hook.find_object("RayCluster", expired_done, kuberay_conn) is None
    for kept in (expired_live, fresh, no_ttl, foreign):
        assert hook.find_object("RayCluster", kept, kuberay_conn) is not None, kept
