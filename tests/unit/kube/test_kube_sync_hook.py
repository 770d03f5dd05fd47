"""KubeRayHook (sync) against a fake Kubernetes API at the HTTP boundary."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator

import pytest

from airflow_provider_kuberay.exceptions import (
    KubeRayApiError,
    KubeRayConflictError,
    KubeRayNotFoundError,
    KubeRayTimeoutError,
    KubeRayUnavailableError,
)
from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.hooks.retry import RetryPolicy
from tests.support.fake_kube_api import FakeKubeApi, running_fake_kube_api

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)
CLUSTERS = "/apis/ray.io/v1/namespaces/default/rayclusters"


@pytest.fixture
def api() -> Iterator[FakeKubeApi]:
    yield from running_fake_kube_api()


@pytest.fixture
def hook(api: FakeKubeApi) -> KubeRayHook:
    return KubeRayHook(None, config_dict=api.kubeconfig_dict(), retry_policy=FAST)


def _cluster(name: str = "c1", **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": labels}, "spec": {"rayVersion": "2.9.0"}}


def test_create_get_find(hook: KubeRayHook, api: FakeKubeApi) -> None:
    created = hook.create_object("RayCluster", _cluster())
    assert created["metadata"]["uid"]
    assert created["kind"] == "RayCluster"
    assert api.objects[("RayCluster", "default", "c1")]["apiVersion"] == "ray.io/v1"
    assert hook.get_object("RayCluster", "c1")["metadata"]["uid"] == created["metadata"]["uid"]
    assert hook.find_object("RayCluster", "c1") is not None
    assert hook.find_object("RayCluster", "nope") is None


def test_create_dry_run_stores_nothing(hook: KubeRayHook, api: FakeKubeApi) -> None:
    answer = hook.create_object("RayJob", {"metadata": {"name": "j"}, "spec": {}}, "ml", dry_run=True)
    assert answer["metadata"]["name"] == "j"
    assert api.calls("POST")[-1][2] == {"dryRun": "All"}
    assert ("RayJob", "ml", "j") not in api.objects


def test_create_conflict(hook: KubeRayHook) -> None:
    hook.create_object("RayCluster", _cluster())
    with pytest.raises(KubeRayConflictError, match="already exists") as info:
        hook.create_object("RayCluster", _cluster())
    assert info.value.http_status == 409


def test_get_missing(hook: KubeRayHook) -> None:
    with pytest.raises(KubeRayNotFoundError, match=r'rayclusters\.ray\.io "nope" not found') as info:
        hook.get_object("RayCluster", "nope")
    assert info.value.http_status == 404


def test_unknown_kind_makes_no_call(hook: KubeRayHook, api: FakeKubeApi) -> None:
    with pytest.raises(ValueError, match="Deployment"):
        hook.create_object("Deployment", {"metadata": {"name": "x"}})
    assert api.requests == []


def test_invalid_object_surfaces_the_api_message(hook: KubeRayHook, api: FakeKubeApi) -> None:
    with pytest.raises(KubeRayApiError, match=r"metadata\.name: Required value") as info:
        hook.create_object("RayCluster", {"spec": {}})
    assert info.value.http_status == 422
    assert len(api.calls("POST")) == 1  # not retried


def test_patch_is_a_merge_patch(hook: KubeRayHook, api: FakeKubeApi) -> None:
    hook.create_object("RayService", {"metadata": {"name": "s", "labels": {"a": "1", "b": "2"}}, "spec": {"x": 1}})
    patched = hook.patch_object("RayService", "s", {"metadata": {"labels": {"b": None}}, "spec": {"y": 2}})
    assert patched["metadata"]["labels"] == {"a": "1"}
    assert patched["spec"] == {"x": 1, "y": 2}
    with pytest.raises(KubeRayNotFoundError):
        hook.patch_object("RayService", "nope", {"spec": {}})


def test_delete_with_propagation(hook: KubeRayHook, api: FakeKubeApi) -> None:
    hook.create_object("RayCluster", _cluster())
    assert hook.delete_object("RayCluster", "c1") is True
    assert api.calls("DELETE")[-1][2] == {"propagationPolicy": "Foreground"}
    assert hook.delete_object("RayCluster", "c1", propagation="Background") is False
    assert api.calls("DELETE")[-1][2] == {"propagationPolicy": "Background"}


def test_wait_until_deleted(hook: KubeRayHook, api: FakeKubeApi) -> None:
    hook.create_object("RayCluster", _cluster())
    api.hold_deletion("RayCluster", "default", "c1", reads=2)
    assert hook.delete_object("RayCluster", "c1")
    assert hook.get_object("RayCluster", "c1")["metadata"]["deletionTimestamp"]
    hook.wait_until_deleted("RayCluster", "c1", timeout=10, poll_interval=0.01)
    assert ("RayCluster", "default", "c1") not in api.objects


def test_wait_until_deleted_times_out(hook: KubeRayHook) -> None:
    hook.create_object("RayCluster", _cluster())
    with pytest.raises(KubeRayTimeoutError, match="RayCluster default/c1 still exists"):
        hook.wait_until_deleted("RayCluster", "c1", timeout=0.05, poll_interval=0.01)


def test_list_by_label(hook: KubeRayHook, api: FakeKubeApi) -> None:
    hook.create_object("RayJob", {"metadata": {"name": "a", "labels": {"dag": "d1"}}})
    hook.create_object("RayJob", {"metadata": {"name": "b", "labels": {"dag": "d2"}}})
    assert [o["metadata"]["name"] for o in hook.list_objects("RayJob")] == ["a", "b"]
    assert [o["metadata"]["name"] for o in hook.list_objects("RayJob", label_selector="dag=d2")] == ["b"]
    assert api.calls("GET", "/apis")[-1][2] == {"labelSelector": "dag=d2", "limit": "500"}


def test_namespace_explicit_connection_default(api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KR_NS", api.connection_json(namespace="ml"))
    hook = KubeRayHook("kr_ns", retry_policy=FAST)
    assert hook.namespace_or_default(None) == "ml"
    assert hook.namespace_or_default("other") == "other"
    hook.create_object("RayJob", {"metadata": {"name": "j"}})
    assert ("RayJob", "ml", "j") in api.objects
    assert KubeRayHook(None, config_dict=api.kubeconfig_dict()).namespace_or_default(None) == "default"


# -- retries -------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [503, 429, 500])
def test_transient_errors_are_retried(hook: KubeRayHook, api: FakeKubeApi, status: int) -> None:
    hook.create_object("RayCluster", _cluster())
    api.fail_next(CLUSTERS, status, times=2)
    assert hook.get_object("RayCluster", "c1")["metadata"]["name"] == "c1"
    assert len(api.calls("GET", CLUSTERS)) == 3


def test_retries_are_bounded(hook: KubeRayHook, api: FakeKubeApi) -> None:
    api.fail_next(CLUSTERS, 503, times=10)
    with pytest.raises(KubeRayUnavailableError, match="scripted failure 503") as info:
        hook.get_object("RayCluster", "c1")
    assert info.value.http_status == 503
    assert len(api.calls("GET", CLUSTERS)) == FAST.attempts


def test_connection_reset_is_retried(hook: KubeRayHook, api: FakeKubeApi) -> None:
    hook.create_object("RayCluster", _cluster())
    api.fail_next(CLUSTERS + "/c1", 0, times=1)
    assert hook.get_object("RayCluster", "c1")["metadata"]["name"] == "c1"


def test_unreachable_api_server_gives_up() -> None:
    config = FakeKubeApi().kubeconfig_dict()
    config["clusters"][0]["cluster"]["server"] = "http://127.0.0.1:9"  # discard port: refused
    hook = KubeRayHook(None, config_dict=config, retry_policy=FAST)
    with pytest.raises(KubeRayUnavailableError, match="unreachable"):
        hook.get_object("RayJob", "j")


def test_unauthorized_reloads_credentials_once_then_fails(api: FakeKubeApi) -> None:
    config = api.kubeconfig_dict()
    config["users"][0]["user"]["token"] = "wrong"
    hook = KubeRayHook(None, config_dict=config, retry_policy=FAST)
    with pytest.raises(KubeRayApiError, match="HTTP 401") as info:
        hook.get_object("RayJob", "j")
    assert info.value.http_status == 401
    assert len(api.requests) == 2


def test_rotated_token_is_picked_up(api: FakeKubeApi, tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    path = tmp_path / "kubeconfig"  # type: ignore[operator]
    path.write_text(json.dumps(api.kubeconfig_dict()))
    monkeypatch.setenv(
        "AIRFLOW_CONN_KR_ROTATE", json.dumps({"conn_type": "kuberay", "extra": {"kube_config_path": str(path)}})
    )
    hook = KubeRayHook("kr_rotate", retry_policy=FAST)
    assert hook.list_objects("RayJob") == []
    api.token = "rotated-token-0123"
    path.write_text(json.dumps(api.kubeconfig_dict()))
    assert hook.list_objects("RayJob") == []
    assert len(api.requests) == 3  # the 401, then the same request with the new token


# -- pods, logs, events, config maps -------------------------------------------------------------
def test_list_pods_plain_dicts(hook: KubeRayHook, api: FakeKubeApi) -> None:
    api.add_pod("c1-head", labels={"ray.io/cluster": "c1", "ray.io/node-type": "head"})
    api.add_pod("c2-head", labels={"ray.io/cluster": "c2"})
    pods = hook.list_pods(label_selector="ray.io/cluster=c1")
    assert [p["metadata"]["name"] for p in pods] == ["c1-head"]
    assert type(pods[0]) is dict
    assert pods[0]["status"]["phase"] == "Running"


def test_read_pod_log_tail(hook: KubeRayHook, api: FakeKubeApi) -> None:
    api.add_pod("p", log="one\ntwo\nthree\n")
    assert hook.read_pod_log("p") == "one\ntwo\nthree\n"
    assert hook.read_pod_log("p", container="ray-head", tail_lines=2) == "two\nthree\n"
    assert api.calls("GET")[-1][2] == {"container": "ray-head", "tailLines": "2"}
    with pytest.raises(KubeRayNotFoundError):
        hook.read_pod_log("missing")


def test_stream_pod_log_follows_until_the_end(hook: KubeRayHook, api: FakeKubeApi) -> None:
    api.add_pod("p", log_chunks=["line 1\nline", " 2\n", "ünïcode \xe9\n", "last without newline"])
    assert list(hook.stream_pod_log("p", container="ray-head")) == [
        "line 1",
        "line 2",
        "ünïcode \xe9",
        "last without newline",
    ]
    assert api.calls("GET")[-1][2] == {"container": "ray-head", "follow": "true"}


def test_list_events(hook: KubeRayHook, api: FakeKubeApi) -> None:
    api.add_event("c1", "Created", "created head pod", last_timestamp="2024-01-01T00:00:02Z")
    api.add_event("c1", "FailedScheduling", "0/3 nodes", type="Warning", last_timestamp="2024-01-01T00:00:03Z")
    api.add_event("c1", "Old", "old", last_timestamp="2024-01-01T00:00:01Z")
    api.add_event("c1", "Other kind", "x", kind="RayJob", last_timestamp="2024-01-01T00:00:09Z")
    api.add_event("c2", "Unrelated", "y")
    events = hook.list_events("c1", kind="RayCluster", limit=2)
    assert [(e["type"], e["reason"], e["message"]) for e in events] == [
        ("Normal", "Created", "created head pod"),
        ("Warning", "FailedScheduling", "0/3 nodes"),
    ]
    assert events[-1]["lastTimestamp"] == "2024-01-01T00:00:03Z"
    assert api.calls("GET", "/api/v1/namespaces/default/events")[-1][2] == {
        "fieldSelector": "involvedObject.name=c1,involvedObject.kind=RayCluster"
    }
    assert len(hook.list_events("c1")) == 4


def test_config_maps(hook: KubeRayHook, api: FakeKubeApi) -> None:
    job = hook.create_object("RayJob", {"metadata": {"name": "j"}})
    cm = hook.create_config_map("j-code", {"main.py": "print(1)"}, owner=job, labels={"app": "x"})
    assert cm["data"] == {"main.py": "print(1)"}
    stored = api.objects[("ConfigMap", "default", "j-code")]
    assert stored["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    with pytest.raises(KubeRayConflictError):
        hook.create_config_map("j-code", {})
    assert hook.delete_config_map("j-code") is True
    assert hook.delete_config_map("j-code") is False


def test_test_connection(hook: KubeRayHook) -> None:
    assert hook.test_connection() == (True, "Kubernetes v1.33.0-fake reachable")


# -- credentials ---------------------------------------------------------------------------------
def test_inline_kubeconfig_is_never_written_to_disk(api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_temp_files(*args: object, **kwargs: object) -> None:
        raise AssertionError("the inline kubeconfig must not go through a temporary file")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", no_temp_files)
    monkeypatch.setattr(tempfile, "mkstemp", no_temp_files)
    monkeypatch.setenv("AIRFLOW_CONN_KR_INLINE", api.connection_json())
    hook = KubeRayHook("kr_inline", retry_policy=FAST)
    assert hook.list_objects("RayCluster") == []


def test_kubeconfig_path_and_context(api: FakeKubeApi, tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    config = api.kubeconfig_dict()
    config["contexts"].append({"name": "other", "context": {"cluster": "nowhere", "user": "fake"}})
    config["clusters"].append({"name": "nowhere", "cluster": {"server": "http://127.0.0.1:9"}})
    config["current-context"] = "other"
    path = tmp_path / "kubeconfig"  # type: ignore[operator]
    path.write_text(json.dumps(config))
    monkeypatch.setenv(
        "AIRFLOW_CONN_KR_PATH",
        json.dumps({"conn_type": "kuberay", "extra": {"kube_config_path": str(path), "cluster_context": "fake"}}),
    )
    assert KubeRayHook("kr_path", retry_policy=FAST).list_objects("RayJob") == []


def test_conflicting_credential_sources(api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KR_BOTH", api.connection_json(kube_config_path="/x"))
    with pytest.raises(ValueError, match="kube_config and kube_config_path"):
        KubeRayHook("kr_both").get_conn()


def test_tls_verification_on_by_default(api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = KubeRayHook(None, config_dict=api.kubeconfig_dict())
    assert hook.api_client.configuration.verify_ssl is True
    monkeypatch.setenv("AIRFLOW_CONN_KR_NOTLS", api.connection_json(disable_verify_ssl=True))
    assert KubeRayHook("kr_notls").api_client.configuration.verify_ssl is False
    # Loading one hook's configuration leaves other hooks (and the process default) alone.
    from kubernetes import client

    assert client.Configuration.get_default_copy().verify_ssl is True


def test_token_not_in_logs_or_repr(hook: KubeRayHook, api: FakeKubeApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api.fail_next(CLUSTERS, 503, times=1)
    hook.find_object("RayCluster", "c1")
    hook.dashboard_endpoint("c1")
    assert api.token not in caplog.text
    assert api.token not in repr(hook)
