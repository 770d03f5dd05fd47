"""Pure parts of the Kubernetes hooks: resource table, paths, error mapping, credentials choice, dashboard URLs."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_kuberay.exceptions import (
    KubeRayApiError,
    KubeRayConflictError,
    KubeRayNotFoundError,
    KubeRayUnavailableError,
)
from airflow_provider_kuberay.hooks import dashboard_access as access
from airflow_provider_kuberay.hooks import kube_resources as kr
from airflow_provider_kuberay.hooks.connection_fields import as_flag
from airflow_provider_kuberay.hooks.dashboard_endpoint import DashboardEndpoint


def test_kinds_table() -> None:
    assert {k: (r.group, r.version, r.plural) for k, r in kr.KINDS.items()} == {
        "RayCluster": ("ray.io", "v1", "rayclusters"),
        "RayJob": ("ray.io", "v1", "rayjobs"),
        "RayService": ("ray.io", "v1", "rayservices"),
    }
    assert kr.resource_for("RayJob").api_version == "ray.io/v1"


def test_unknown_kind_is_named() -> None:
    with pytest.raises(ValueError, match="'Pod'"):
        kr.resource_for("Pod")


def test_paths() -> None:
    cluster = kr.resource_for("RayCluster")
    assert cluster.collection_path("ml") == "/apis/ray.io/v1/namespaces/ml/rayclusters"
    assert cluster.object_path("ml", "c1") == "/apis/ray.io/v1/namespaces/ml/rayclusters/c1"
    assert cluster.object_path("ml", "../x") == "/apis/ray.io/v1/namespaces/ml/rayclusters/..%2Fx"
    assert kr.core_path("ml", "pods", "p", "log") == "/api/v1/namespaces/ml/pods/p/log"


def test_with_kind_fills_and_checks() -> None:
    assert kr.with_kind("RayJob", {"metadata": {"name": "j"}})["apiVersion"] == "ray.io/v1"
    with pytest.raises(ValueError, match="not a 'RayJob'"):
        kr.with_kind("RayJob", {"kind": "RayCluster"})


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (404, KubeRayNotFoundError),
        (409, KubeRayConflictError),
        (422, KubeRayApiError),
        (503, KubeRayUnavailableError),
        (429, KubeRayUnavailableError),
    ],
)
def test_api_error_mapping(status: int, cls: type) -> None:
    body = json.dumps({"kind": "Status", "message": f"the message {status}", "code": status})
    err = kr.api_error(status, body, "get RayJob ns/j")
    assert type(err) is cls
    assert err.http_status == status
    assert f"the message {status}" in str(err)
    assert "get RayJob ns/j" in str(err)


def test_api_message_of_non_json() -> None:
    assert kr.api_message("  plain text  ") == "plain text"


def test_newest_events_sorted_filled_limited() -> None:
    items: list[dict[str, Any]] = [
        {"reason": "b", "lastTimestamp": "2024-01-02T00:00:00Z"},
        {"reason": "c", "lastTimestamp": None, "eventTime": "2024-01-03T00:00:00.000000Z"},
        {"reason": "a", "lastTimestamp": "2024-01-01T00:00:00Z"},
    ]
    events = kr.newest_events(items, 2)
    assert [e["reason"] for e in events] == ["b", "c"]
    assert events[-1]["lastTimestamp"] == "2024-01-03T00:00:00.000000Z"
    assert kr.newest_events(items, 0) == []


def test_config_source_is_exclusive() -> None:
    assert kr.config_source(in_cluster=None, kube_config=None, kube_config_path=None, config_dict=None) == "default"
    assert kr.config_source(in_cluster=True, kube_config=None, kube_config_path=None, config_dict=None) == "in_cluster"
    with pytest.raises(ValueError, match="in_cluster and kube_config_path"):
        kr.config_source(in_cluster=True, kube_config=None, kube_config_path="/x", config_dict=None)


def test_parse_kubeconfig_never_echoes_content() -> None:
    assert kr.parse_kubeconfig('{"a": 1}') == {"a": 1}
    assert kr.parse_kubeconfig("a: 1\n") == {"a": 1}
    with pytest.raises(ValueError, match="not valid JSON or YAML") as info:
        kr.parse_kubeconfig("token: [s3cr3t")
    assert "s3cr3t" not in str(info.value)
    with pytest.raises(ValueError, match="mapping"):
        kr.parse_kubeconfig("just-a-string")


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ("", None), ("true", True), ("False", False), (True, True)]
)
def test_as_flag(value: object, expected: bool | None) -> None:
    assert as_flag(value) is expected


def test_as_flag_names_the_field() -> None:
    with pytest.raises(ValueError, match="'in_cluster' must be a boolean"):
        as_flag("maybe", "in_cluster")


def test_config_map_body_with_owner() -> None:
    owner = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "j", "uid": "u-1"}}
    body = kr.config_map_body("cm", {"f.py": "x"}, "ml", owner, {"app": "a"})
    assert body["metadata"]["ownerReferences"] == [
        {"apiVersion": "ray.io/v1", "kind": "RayJob", "name": "j", "uid": "u-1", "blockOwnerDeletion": False}
    ]
    assert body["metadata"]["labels"] == {"app": "a"}
    assert body["data"] == {"f.py": "x"}


# -- dashboard access ----------------------------------------------------------------------------
def test_access_mode_parsing() -> None:
    assert access.parse_access_mode(None) == "auto"
    assert access.parse_access_mode(" Proxy ") == "proxy"
    with pytest.raises(ValueError, match="dashboard_access must be one of"):
        access.parse_access_mode("loadbalancer", "kr")


def test_auto_mode_choice() -> None:
    assert access.effective_mode("auto", in_pod=True) == "direct"
    assert access.effective_mode("auto", in_pod=False) == "proxy"
    assert access.effective_mode("url", in_pod=True) == "url"


def test_running_in_pod(tmp_path: object) -> None:
    token = tmp_path / "token"  # type: ignore[operator]
    assert not access.running_in_pod({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, str(token))
    token.write_text("t")
    assert access.running_in_pod({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, str(token))
    assert not access.running_in_pod({}, str(token))


def test_head_service_name() -> None:
    assert access.head_service_name("c", None) == "c-head-svc"
    assert access.head_service_name("c", {"status": {"head": {"serviceName": "custom-svc"}}}) == "custom-svc"


def test_urls() -> None:
    assert access.direct_url("c-head-svc", "ml") == "http://c-head-svc.ml.svc.cluster.local:8265"
    assert (
        access.proxy_url("https://api:6443/", "c-head-svc", "ml")
        == "https://api:6443/api/v1/namespaces/ml/services/c-head-svc:dashboard/proxy"
    )
    assert access.template_url("https://{cluster}.{namespace}.ray.example", "c", "ml") == "https://c.ml.ray.example"
    with pytest.raises(ValueError, match="dashboard_url is empty"):
        access.template_url(None, "c", "ml")
    with pytest.raises(ValueError, match=r"\{cluster\} and \{namespace\}"):
        access.template_url("http://{host}", "c", "ml")


def _configuration(**overrides: object) -> SimpleNamespace:
    values: dict[str, object] = {
        "host": "https://api:6443",
        "verify_ssl": True,
        "ssl_ca_cert": None,
        "cert_file": None,
        "key_file": None,
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def test_access_from_configuration_token_and_tls() -> None:
    auth = {"BearerToken": {"in": "header", "key": "authorization", "value": "Bearer s3cr3t-token"}}
    api = access.access_from_configuration(_configuration(ssl_ca_cert="/ca.pem"), auth)
    assert api.headers == {"Authorization": "Bearer s3cr3t-token"}
    assert api.verify == "/ca.pem"
    assert "s3cr3t" not in repr(api)
    assert access.access_from_configuration(_configuration(), {}).verify is True
    assert access.access_from_configuration(_configuration(verify_ssl=False, ssl_ca_cert="/ca"), {}).verify is False


def test_access_from_configuration_client_certificate() -> None:
    api = access.access_from_configuration(_configuration(cert_file="/c.crt", key_file="/c.key"), {})
    assert api.client_cert == ("/c.crt", "/c.key")
    endpoint = access.endpoint_for("proxy", cluster_name="c", namespace="ml", service="s", access=api)
    assert endpoint.client_cert == ("/c.crt", "/c.key")
    assert endpoint.headers == {}


def test_endpoint_for_each_mode() -> None:
    api = access.ApiServerAccess(host="https://api", headers={"Authorization": "Bearer t0ken-x"}, verify="/ca")
    proxy = access.endpoint_for("proxy", cluster_name="c", namespace="ml", service="c-head-svc", access=api)
    assert proxy.url == "https://api/api/v1/namespaces/ml/services/c-head-svc:dashboard/proxy"
    assert proxy.verify == "/ca"
    assert "t0ken-x" not in repr(proxy)
    direct = access.endpoint_for("direct", cluster_name="c", namespace="ml", service="c-head-svc")
    assert direct == DashboardEndpoint(url="http://c-head-svc.ml.svc.cluster.local:8265")
    url = access.endpoint_for("url", cluster_name="c", namespace="ml", url_template="http://{cluster}:8265")
    assert url.url == "http://c:8265"
    with pytest.raises(ValueError, match="resolved"):
        access.endpoint_for("auto", cluster_name="c", namespace="ml", service="s")
