"""
Fields the installed KubeRay CRDs lack fail before anything is created, named with the KubeRay release
that added them: checked against real release CRDs (from KubeRay's Go modules) served by the fake API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_kuberay.exceptions import KubeRayUnsupportedFieldError
from airflow_provider_kuberay.hooks import crd_fields
from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.hooks.kuberay_async import KubeRayAsyncHook
from airflow_provider_kuberay.hooks.retry import RetryPolicy
from tests.support.fake_kube_api import FakeKubeApi, running_fake_kube_api
from tests.support.kuberay_crds import release_crds

FAST = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02)
JOBS = "/apis/ray.io/v1/namespaces/default/rayjobs"
CRD = crd_fields.crd_path("RayJob")
CLUSTER_SPEC = {
    "headGroupSpec": {"template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.52.0"}]}}},
    "workerGroupSpecs": [
        {"groupName": "w", "template": {"spec": {"containers": [{"name": "w", "image": "rayproject/ray:2.52.0"}]}}}
    ],
}


def _crds(version: str) -> dict[str, dict[str, Any]]:
    crds = release_crds(version)
    if crds is None:
        pytest.skip(f"KubeRay {version}'s CRDs need Go and the Go module proxy")
    return crds


@pytest.fixture
def api() -> Iterator[FakeKubeApi]:
    yield from running_fake_kube_api()


def _hook(api: FakeKubeApi) -> KubeRayHook:
    return KubeRayHook(None, config_dict=api.kubeconfig_dict(), retry_policy=FAST)


def _job(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"entrypoint": "python a.py", "rayClusterSpec": CLUSTER_SPEC, **spec}}


DELETION = {"deletionRules": [{"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED"}}]}


def test_deletion_strategy_on_kuberay_1_4_fails_before_creating_anything(api: FakeKubeApi) -> None:
    api.crds = _crds("v1.4.2")
    with pytest.raises(KubeRayUnsupportedFieldError) as info:
        _hook(api).create_object("RayJob", _job("j1", deletionStrategy=DELETION))
    message = str(info.value)
    assert "spec.deletionStrategy: added in KubeRay 1.5" in message
    assert "rayjobs.ray.io" in message
    assert "'j1'" in message
    assert api.calls("POST") == []
    assert api.get("RayJob", "default", "j1") is None


def test_pre_running_deadline_on_kuberay_1_5_names_1_6(api: FakeKubeApi) -> None:
    api.crds = _crds("v1.5.1")
    hook = _hook(api)
    hook.create_object("RayJob", _job("ok", deletionStrategy=DELETION))  # 1.5 has deletionStrategy
    with pytest.raises(KubeRayUnsupportedFieldError, match=r"spec\.preRunningDeadlineSeconds: added in KubeRay 1\.6"):
        hook.create_object("RayJob", _job("j2", preRunningDeadlineSeconds=60))
    assert [call[1] for call in api.calls("POST")] == [JOBS]
    assert len(api.calls("GET", CRD)) == 1  # the schema is read once per hook (connection)


def test_cluster_spec_fields_are_named_with_their_index_and_release(api: FakeKubeApi) -> None:
    api.crds = _crds("v1.6.2")
    spec = {**CLUSTER_SPEC, "workerGroupSpecs": [{**CLUSTER_SPEC["workerGroupSpecs"][0], "priority": 3}]}
    body = {"metadata": {"name": "c1"}, "spec": {**spec, "tlsOptions": {}, "madeUp": 1}}
    with pytest.raises(KubeRayUnsupportedFieldError) as info:
        _hook(api).create_object("RayCluster", body)
    message = str(info.value)
    assert "spec.workerGroupSpecs[0].priority: added in KubeRay 1.7" in message
    assert "spec.tlsOptions: added in KubeRay 1.7" in message
    assert "spec.madeUp: not a field of the installed KubeRay release" in message
    assert api.calls("POST") == []


def test_fields_the_installed_crd_has_pass_and_labels_annotations_and_status_are_not_fields(api: FakeKubeApi) -> None:
    api.crds = _crds("v1.6.2")
    body = _job("j3", deletionStrategy=DELETION, preRunningDeadlineSeconds=60)
    body["metadata"]["labels"] = {"a": "b"}
    body["status"] = {"jobStatus": "whatever"}
    _hook(api).create_object("RayJob", body)
    assert api.get("RayJob", "default", "j3") is not None


def test_the_async_hook_checks_the_same_way(api: FakeKubeApi) -> None:
    api.crds = _crds("v1.4.2")

    async def create() -> None:
        async with KubeRayAsyncHook(None, config_dict=api.kubeconfig_dict(), retry_policy=FAST) as hook:
            await hook.create_object("RayJob", _job("j4", deletionStrategy=DELETION))

    with pytest.raises(KubeRayUnsupportedFieldError, match=r"spec\.deletionStrategy: added in KubeRay 1\.5"):
        asyncio.run(create())
    assert api.calls("POST") == []


@pytest.mark.parametrize("status", [403, 404])
def test_no_check_when_the_crd_cannot_be_read(api: FakeKubeApi, status: int, caplog: pytest.LogCaptureFixture) -> None:
    # 403: the connection may not read CRDs (cluster-scoped); 404: no CRD served. Creating then works as before.
    if status == 403:
        api.crds = _crds("v1.4.2")
        api.fail_next(CRD, 403, times=1)
    hook = _hook(api)
    hook.create_object("RayJob", _job("j5", deletionStrategy=DELETION))
    hook.create_object("RayJob", _job("j6"))
    assert len(api.calls("GET", CRD)) == 1
    assert "Not checking RayJob fields against the installed CRD" in caplog.text


def test_unknown_fields_follow_lists_maps_and_kept_unknown_fields() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "groups": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}}},
                    "byName": {
                        "type": "object",
                        "additionalProperties": {"type": "object", "properties": {"x": {"type": "string"}}},
                    },
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    "opaque": {"type": "object"},
                },
            },
        },
    }
    body = {
        "spec": {
            "groups": [{"n": 1}, {"n": 2, "m": 3}],
            "byName": {"a": {"x": "1", "y": "2"}},
            "free": {"anything": 1},
            "opaque": {"anything": 2},
            "extra": True,
        }
    }
    assert crd_fields.unknown_fields(schema, body) == ["spec.groups[1].m", "spec.byName['a'].y", "spec.extra"]


def test_added_in_reads_cluster_fields_under_each_kind() -> None:
    assert crd_fields.added_in("RayJob", "spec.rayClusterSpec.workerGroupSpecs[2].priority") == "1.7"
    assert crd_fields.added_in("RayService", "spec.rayClusterConfig.upgradeStrategy") == "1.6"
    assert crd_fields.added_in("RayCluster", "spec.authOptions") == "1.5"
    assert crd_fields.added_in("RayService", "spec.suspend") == "1.7"
    assert crd_fields.added_in("RayJob", "spec.entrypoint") is None
