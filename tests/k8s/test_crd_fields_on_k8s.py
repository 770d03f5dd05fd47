"""
A field the cluster's KubeRay CRDs lack fails the task before anything is created (the API server
would prune it silently): run in the matrix's older-operator cells (``make test-matrix
CELLS=kuberay-v1.4.2``), whose harness installs that release's own CRDs; skipped where the CRDs are new.
"""

from __future__ import annotations

from typing import Any

import pytest
from k8s_support import provider_cluster, task_instance

from airflow_provider_kuberay.exceptions import KubeRayUnsupportedFieldError
from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.operators import KubeRayRunJobOperator
from tests.support.airflow_context import context_for

pytestmark = pytest.mark.k8s


def _rayjob_fields(k8s_cluster: Any) -> set[str]:
    from kubernetes import client

    crd = client.ApiextensionsV1Api(k8s_cluster.api).read_custom_resource_definition("rayjobs.ray.io")
    version = next(v for v in crd.spec.versions if v.name == "v1")
    return set(version.schema.open_apiv3_schema.properties["spec"].properties)


def test_deletion_strategy_on_a_kuberay_without_it_fails_before_creating_anything(
    k8s_cluster: Any, kuberay_conn: str
) -> None:
    if "deletionStrategy" in _rayjob_fields(k8s_cluster):
        pytest.skip("the installed RayJob CRD has deletionStrategy (KubeRay 1.5+): nothing to refuse")
    op = KubeRayRunJobOperator(
        task_id="old_crds",
        entrypoint="python -c 'print(1)'",
        cluster=provider_cluster(),
        deletion_strategy={"deletionRules": [{"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED"}}]},
        deferrable=False,
    )
    with pytest.raises(KubeRayUnsupportedFieldError) as info:
        op.execute(context_for(task_instance("old_crds")))
    assert "spec.deletionStrategy: added in KubeRay 1.5" in str(info.value)
    hook = KubeRayHook()
    for kind in ("RayJob", "RayCluster"):
        assert [o for o in hook.list_objects(kind, kuberay_conn) if "old-crds" in o["metadata"]["name"]] == []
