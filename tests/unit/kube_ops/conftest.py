"""Fixtures of the Kubernetes-side operator tests: the API faked at the HTTP boundary."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_kube_api import FakeKubeApi, running_fake_kube_api

NAMESPACE = "ml"


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeApi]:
    """A fake Kubernetes API on loopback, as the ``kuberay_default`` connection (namespace ``ml``)."""
    for api in running_fake_kube_api():
        monkeypatch.setenv(
            "AIRFLOW_CONN_KUBERAY_DEFAULT",
            api.connection_json(
                namespace=NAMESPACE, dashboard_access="url", dashboard_url="https://ray.test/{namespace}/{cluster}"
            ),
        )
        yield api


@pytest.fixture(autouse=True)
def _short_link_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake API has no KubeRay to name a RayJob's Ray job: do not wait seconds for it in every test."""
    monkeypatch.setattr("airflow_provider_kuberay.operators._rayjob_links.NAMING_WAIT_SECONDS", 0.3)
