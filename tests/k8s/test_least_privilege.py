"""
Least privilege on the real API server: a Role missing one verb of the README's Role makes the
task fail at once (no retries, nothing created) with an error naming the missing permission.
The README's Role itself running every example flow is proven by the example-DAG tests, which run
as a ServiceAccount bound to nothing else.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from k8s_support import readme_role_rules

from airflow_provider_kuberay.exceptions import KubeRayApiError, RayDashboardError, RayJobFailedError
from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.operators import (
    KubeRayDeleteClusterOperator,
    KubeRayRunJobOperator,
    KubeRaySubmitJobOperator,
)
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup
from tests.support.airflow_context import FakeTaskInstance, context_for

pytestmark = pytest.mark.k8s


def _without(resource: str, verb: str) -> list[dict[str, Any]]:
    rules = copy.deepcopy(readme_role_rules())
    found = False
    for rule in rules:
        # rayclusters sits in two rules: the usual verbs, and Ray's own "ray:write".
        if resource in rule["resources"] and verb in rule["verbs"]:
            rule["verbs"].remove(verb)
            found = True
    assert found, f"the README's Role has no {verb} on {resource}"
    return rules


def _run_job(name: str) -> Any:
    cluster = ClusterSpec(image="rayproject/ray:2.52.0", ray_version="2.52.0", head=HeadGroup())
    return KubeRayRunJobOperator(task_id=name, entrypoint="python -c 'print(1)'", cluster=cluster, deferrable=False)


def _delete_cluster(name: str) -> Any:
    return KubeRayDeleteClusterOperator(task_id=name, cluster_name="any-cluster", timeout_seconds=30)


def _submit_by_cluster_name(name: str) -> Any:
    return KubeRaySubmitJobOperator(
        task_id=name, entrypoint="python -c 'print(1)'", cluster_name="any-cluster", deferrable=False
    )


CASES = {
    "create rayjobs": ("rayjobs", "create", _run_job, 'verb "create" on resource "rayjobs" (API group "ray.io")'),
    "delete rayclusters": ("rayclusters", "delete", _delete_cluster, 'verb "delete" on resource "rayclusters"'),
    "the dashboard proxy": ("services/proxy", "create", _submit_by_cluster_name, 'on resource "services/proxy"'),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_role_missing_one_verb_fails_naming_the_permission(
    case: str,
    k8s_namespace: str,
    kubeconfig_for_role: Callable[[str, list[dict[str, Any]]], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resource, verb, make_operator, named = CASES[case]
    kubeconfig = kubeconfig_for_role(f"lacks-{uuid.uuid4().hex[:6]}", _without(resource, verb))
    extra = {"kube_config_path": kubeconfig, "namespace": k8s_namespace, "dashboard_access": "proxy"}
    monkeypatch.setenv("AIRFLOW_CONN_KUBERAY_DEFAULT", json.dumps({"conn_type": "kuberay", "extra": extra}))
    task_id = f"rbac_{uuid.uuid4().hex[:6]}"
    before = {kind: len(KubeRayHook().list_objects(kind, k8s_namespace)) for kind in ("RayJob", "RayCluster")}
    ti = FakeTaskInstance(dag_id="k8s_rbac", task_id=task_id, run_id=f"run-{uuid.uuid4().hex[:6]}")
    with pytest.raises((KubeRayApiError, RayDashboardError, RayJobFailedError)) as info:
        make_operator(task_id).execute(context_for(ti))
    message = str(info.value)
    assert "missing RBAC permission" in message, message
    assert named in message, message
    assert "HTTP 403" in message
    after = {kind: len(KubeRayHook().list_objects(kind, k8s_namespace)) for kind in ("RayJob", "RayCluster")}
    assert after == before  # refused before anything was made
