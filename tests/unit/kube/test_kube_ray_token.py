"""
Ray token auth on the ``kuberay`` path, with the Kubernetes API faked at the HTTP boundary: a
RayCluster with ``authOptions.mode: token`` has its token read from the Secret KubeRay keeps, and
sent as ``X-Ray-Authorization`` through the API server's proxy or as ``Authorization`` directly; a
cluster without auth costs no Secret read; a missing Secret fails naming it. With
``enableK8sTokenAuth`` the caller's own Kubernetes bearer token is the Ray token (no Secret read); a
client-certificate credential has none and fails naming the field.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from airflow_provider_kuberay.exceptions import KubeRayApiError
from airflow_provider_kuberay.hooks.dashboard_access import RayTokenSource, ray_token_source
from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, ray_cluster_body
from tests.support.fake_kube_api import FakeKubeApi
from tests.unit.kube.fake_kube_secrets import FakeKubeApiWithSecrets, ray_token_secret_body

NS = "ml"
TOKEN = "s3cret-ray-token"
STATUS = {"head": {"serviceName": "c1-head-svc"}}


@pytest.fixture
def kube() -> Iterator[FakeKubeApiWithSecrets]:
    api = FakeKubeApiWithSecrets().start()
    try:
        yield api
    finally:
        api.stop()


def _connect(kube: FakeKubeApi, monkeypatch: pytest.MonkeyPatch, access: str) -> KubeRayHook:
    extra: dict[str, Any] = {"namespace": NS, "dashboard_access": access}
    if access == "url":
        extra["dashboard_url"] = "https://ray.test/{namespace}/{cluster}"
    monkeypatch.setenv("AIRFLOW_CONN_KUBERAY_DEFAULT", kube.connection_json(**extra))
    return KubeRayHook()


def _cluster(kube: FakeKubeApiWithSecrets, **spec: Any) -> None:
    spec = {"image": "rayproject/ray:2.52.0", "ray_version": "2.52.0", **spec}
    body = ray_cluster_body("c1", ClusterSpec(head=HeadGroup(), **spec))
    kube.put_object("RayCluster", body, NS)
    kube.set_status("RayCluster", NS, "c1", STATUS)


def _secret(kube: FakeKubeApiWithSecrets, name: str, token: str = TOKEN) -> None:
    kube.secrets[(NS, name)] = ray_token_secret_body(name, token)


def test_the_cluster_spec_turns_token_auth_on() -> None:
    head = HeadGroup()
    spec = ClusterSpec(image="rayproject/ray:2.52.0", ray_version="2.52.0", head=head, ray_token_auth=True).to_dict()
    assert spec["authOptions"] == {"mode": "token"}
    own = ClusterSpec(image="rayproject/ray:2.52.0", ray_version="2.52.0", head=head, ray_token_secret="mine")
    assert own.to_dict()["authOptions"] == {"mode": "token", "secretName": "mine"}
    with pytest.raises(ValueError, match="rayVersion"):
        ClusterSpec(image="rayproject/ray:2.41.0", ray_version="2.41.0", head=head, ray_token_auth=True).to_dict()


def test_the_secret_is_the_clusters_own_unless_named() -> None:
    assert ray_token_source({"metadata": {"name": "c1"}, "spec": {"authOptions": {"mode": "token"}}}) == (
        RayTokenSource(secret="c1")
    )
    named = {"metadata": {"name": "c1"}, "spec": {"authOptions": {"mode": "token", "secretName": "s"}}}
    assert ray_token_source(named) == RayTokenSource(secret="s")
    assert ray_token_source({"metadata": {"name": "c1"}, "spec": {"authOptions": {"mode": "disabled"}}}) is None
    assert ray_token_source(None) is None


def test_kubernetes_token_auth_uses_no_secret() -> None:
    cluster = {"metadata": {"name": "c1"}, "spec": {"authOptions": {"mode": "token", "enableK8sTokenAuth": True}}}
    assert ray_token_source(cluster) == RayTokenSource()  # no Secret: the caller's own credential
    assert RayTokenSource().kubernetes
    assert ray_token_source({"metadata": {"name": "c1"}, "spec": {"authOptions": {"mode": "token"}}}) == (
        RayTokenSource(secret="c1")
    )


def test_the_cluster_spec_turns_kubernetes_token_auth_on() -> None:
    head = HeadGroup()
    spec = ClusterSpec(image="rayproject/ray:2.55.0", ray_version="2.55.0", head=head, ray_k8s_token_auth=True)
    assert spec.to_dict()["authOptions"] == {"mode": "token", "enableK8sTokenAuth": True}
    with pytest.raises(ValueError, match=r"spec.rayVersion: '2.52.0' with Kubernetes token auth"):
        ClusterSpec(image="rayproject/ray:2.52.0", ray_version="2.52.0", head=head, ray_k8s_token_auth=True).to_dict()
    with pytest.raises(ValueError, match=r"spec.authOptions.secretName: set with enableK8sTokenAuth"):
        replace(spec, ray_token_secret="mine").to_dict()


@pytest.mark.parametrize("mode", ["proxy", "direct"])
def test_with_kubernetes_token_auth_the_callers_bearer_token_is_the_ray_token(
    kube: FakeKubeApiWithSecrets, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    _cluster(kube, ray_k8s_token_auth=True, image="rayproject/ray:2.55.0", ray_version="2.55.0")
    endpoint = _connect(kube, monkeypatch, mode).dashboard_endpoint("c1")
    if mode == "proxy":
        # Authorization authenticates to the API server, which drops it before its proxy reaches Ray.
        assert endpoint.headers == {
            "Authorization": f"Bearer {kube.token}",
            "X-Ray-Authorization": f"Bearer {kube.token}",
        }
    else:
        assert endpoint.headers == {"Authorization": f"Bearer {kube.token}"}
    assert kube.token not in repr(endpoint)
    assert kube.calls("GET", f"/api/v1/namespaces/{NS}/secrets") == []  # KubeRay made no Secret to read


def test_the_async_hook_sends_the_callers_bearer_token_too(
    kube: FakeKubeApiWithSecrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_kuberay.hooks.kuberay_async import KubeRayAsyncHook

    _cluster(kube, ray_k8s_token_auth=True, image="rayproject/ray:2.55.0", ray_version="2.55.0")
    monkeypatch.setenv("AIRFLOW_CONN_KR_K8S_TOKEN", kube.connection_json(namespace=NS, dashboard_access="proxy"))

    async def endpoint() -> Any:
        async with KubeRayAsyncHook("kr_k8s_token") as hook:
            return await hook.dashboard_endpoint("c1")

    assert asyncio.run(endpoint()).headers["X-Ray-Authorization"] == f"Bearer {kube.token}"
    assert kube.calls("GET", f"/api/v1/namespaces/{NS}/secrets") == []


def test_kubernetes_token_auth_with_a_client_certificate_fails_naming_the_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = FakeKubeApiWithSecrets(tls=True).start()
    try:
        _cluster(api, ray_k8s_token_auth=True, image="rayproject/ray:2.55.0", ray_version="2.55.0")
        extra = {"kube_config": json.dumps(api.kubeconfig_dict(client_cert=True)), "namespace": NS}
        monkeypatch.setenv("AIRFLOW_CONN_KUBERAY_DEFAULT", json.dumps({"conn_type": "kuberay", "extra": extra}))
        for mode in ("proxy", "direct"):
            monkeypatch.setenv(
                "AIRFLOW_CONN_KUBERAY_DEFAULT",
                json.dumps({"conn_type": "kuberay", "extra": {**extra, "dashboard_access": mode}}),
            )
            with pytest.raises(
                ValueError, match=rf"RayCluster {NS}/c1 has spec.authOptions.enableK8sTokenAuth"
            ) as info:
                KubeRayHook().dashboard_endpoint("c1")
            message = str(info.value)
            assert "connection 'kuberay_default' authenticates with a client certificate" in message
            assert "bearer token" in message
            assert "ray:write" in message
        assert api.calls("GET", f"/api/v1/namespaces/{NS}/secrets") == []
    finally:
        api.stop()


def test_through_the_proxy_the_token_travels_as_x_ray_authorization(
    kube: FakeKubeApiWithSecrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cluster(kube, ray_token_auth=True)
    _secret(kube, "c1")
    endpoint = _connect(kube, monkeypatch, "proxy").dashboard_endpoint("c1")
    assert endpoint.headers["X-Ray-Authorization"] == f"Bearer {TOKEN}"
    assert endpoint.headers["Authorization"] == f"Bearer {kube.token}"  # the Kubernetes credential stays
    assert TOKEN not in repr(endpoint)


def test_directly_the_token_travels_as_authorization(
    kube: FakeKubeApiWithSecrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cluster(kube, ray_token_secret="team-token")
    _secret(kube, "team-token")
    endpoint = _connect(kube, monkeypatch, "direct").dashboard_endpoint("c1")
    assert endpoint.headers == {"Authorization": f"Bearer {TOKEN}"}
    # url mode makes no API call at all: what fronts that URL handles authentication.
    assert _connect(kube, monkeypatch, "url").dashboard_endpoint("c1").headers == {}


def test_a_cluster_without_auth_reads_no_secret(kube: FakeKubeApiWithSecrets, monkeypatch: pytest.MonkeyPatch) -> None:
    _cluster(kube)
    endpoint = _connect(kube, monkeypatch, "proxy").dashboard_endpoint("c1")
    assert "X-Ray-Authorization" not in endpoint.headers
    assert kube.calls("GET", f"/api/v1/namespaces/{NS}/secrets") == []


def test_a_missing_secret_fails_naming_it(kube: FakeKubeApiWithSecrets, monkeypatch: pytest.MonkeyPatch) -> None:
    _cluster(kube, ray_token_auth=True)
    with pytest.raises(KubeRayApiError, match=f"Ray token of RayCluster {NS}/c1 from Secret {NS}/c1"):
        _connect(kube, monkeypatch, "proxy").dashboard_endpoint("c1")


def test_a_secret_without_the_token_key_fails_naming_it(
    kube: FakeKubeApiWithSecrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cluster(kube, ray_token_auth=True)
    kube.secrets[(NS, "c1")] = {"metadata": {"name": "c1"}, "data": {"other": "eA=="}}
    with pytest.raises(ValueError, match=f"Secret {NS}/c1 has no 'auth_token'"):
        _connect(kube, monkeypatch, "proxy").dashboard_endpoint("c1")


@pytest.mark.parametrize(
    ("status", "answer"),
    [(401, "Unauthorized: Missing authentication token"), (403, "Forbidden: Invalid authentication token")],
)
def test_a_refused_ray_token_is_explained(status: int, answer: str) -> None:
    from airflow_provider_kuberay.hooks.ray_jobs_api import ApiRequest, answer_error

    error = answer_error(ApiRequest("GET", "/api/jobs/", what="job list"), status, answer)
    assert answer in str(error)
    assert "refused the Ray token" in str(error)
    assert error.http_status == status
