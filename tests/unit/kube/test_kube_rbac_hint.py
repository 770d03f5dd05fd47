"""A Kubernetes 403 answer names the RBAC permission the connection's identity lacks."""

from __future__ import annotations

import json

import pytest

from airflow_provider_kuberay.exceptions import RayDashboardError
from airflow_provider_kuberay.hooks import ray_jobs_api as api
from airflow_provider_kuberay.hooks.kube_resources import api_error
from airflow_provider_kuberay.hooks.rbac_hint import missing_permission

SA = "system:serviceaccount:ml:airflow"


def _status(message: str) -> str:
    return json.dumps({"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403, "message": message})


def test_a_namespaced_denial_names_verb_resource_group_and_namespace() -> None:
    body = _status(
        f'rayjobs.ray.io is forbidden: User "{SA}" cannot create resource "rayjobs" in API group "ray.io" '
        'in the namespace "ml"'
    )
    error = api_error(403, body, "create RayJob ml/train")
    assert str(error).startswith("Kubernetes API refused to create RayJob ml/train: HTTP 403 Forbidden: rayjobs.ray.io")
    assert 'missing RBAC permission: verb "create" on resource "rayjobs" (API group "ray.io") in namespace "ml"' in (
        str(error)
    )


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (f'User "{SA}" cannot get resource "pods/log" in API group "" in the namespace "ml"',
         'verb "get" on resource "pods/log" (API group "core") in namespace "ml"'),
        (f'User "{SA}" cannot list resource "namespaces" in API group "" at the cluster scope',
         'verb "list" on resource "namespaces" (API group "core") cluster-wide'),
    ],
)  # fmt: skip
def test_subresources_and_cluster_scope(message: str, expected: str) -> None:
    assert expected in (missing_permission(message) or "")


def test_other_403s_are_left_as_they_are() -> None:
    assert missing_permission(_status("admission webhook denied the request")) is None
    assert "missing RBAC" not in str(api_error(403, _status("admission webhook denied"), "patch RayService a/b"))


def test_the_dashboard_through_the_api_server_proxy_says_so_too() -> None:
    body = _status(f'services "rc-head-svc:dashboard" is forbidden: User "{SA}" cannot get resource "services/proxy" '
                   'in API group "" in the namespace "ml"')  # fmt: skip
    with pytest.raises(RayDashboardError, match='verb "get" on resource "services/proxy"') as info:
        api.raise_for_answer(api.job_info("s1"), 403, body)
    assert info.value.http_status == 403
