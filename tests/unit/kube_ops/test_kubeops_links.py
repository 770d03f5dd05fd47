"""Dashboard links: set while the job runs, a cluster link on cluster and job tasks, a Serve link on services."""

from __future__ import annotations

import threading
import time

import pytest

from airflow_provider_kuberay.get_provider_info import get_provider_info
from airflow_provider_kuberay.links import (
    RayClusterDashboardLink,
    RayJobDashboardLink,
    RayServeDashboardLink,
    publish_links,
)
from airflow_provider_kuberay.operators import (
    KubeRayCreateClusterOperator,
    KubeRayDeployServiceOperator,
    KubeRayRunJobOperator,
    KubeRaySubmitJobOperator,
)
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, resource_name
from tests.support.airflow_context import FakeTaskInstance, context_for
from tests.support.fake_dashboard import FakeDashboard
from tests.support.fake_kube_api import FakeKubeApi

NS = "ml"  # the namespace of the `kube` fixture's connection (conftest.py)
CLUSTER = ClusterSpec(image="rayproject/ray:2.52.0", ray_version="2.52.0", head=HeadGroup())


def _link_names(operator_class: type) -> set[str]:
    return {link.name for link in operator_class.operator_extra_links}


def test_each_task_kind_has_its_links_and_all_are_registered() -> None:
    assert _link_names(KubeRaySubmitJobOperator) == {"Ray Job", "Ray Cluster"}
    assert _link_names(KubeRayRunJobOperator) == {"Ray Job", "Ray Cluster"}
    assert _link_names(KubeRayCreateClusterOperator) == {"Ray Cluster"}
    assert _link_names(KubeRayDeployServiceOperator) == {"Ray Serve"}
    registered = set(get_provider_info()["extra-links"])
    for link in (RayJobDashboardLink, RayClusterDashboardLink, RayServeDashboardLink):
        assert f"{link.__module__}.{link.__name__}" in registered


def test_links_are_built_from_the_dashboard_url_and_stay_empty_until_known() -> None:
    assert RayJobDashboardLink().url("http://h:8265/", "sid") == "http://h:8265/#/jobs/sid"
    assert RayJobDashboardLink().url("http://h:8265", None) == ""
    assert RayClusterDashboardLink().url("https://ray.test/ml/rc", None) == "https://ray.test/ml/rc/#/cluster"
    assert RayServeDashboardLink().url("https://ray.test/ml/rc", None) == "https://ray.test/ml/rc/#/serve"
    assert RayServeDashboardLink().url("", None) == ""


def test_publishing_pushes_each_link_of_the_operator_right_away() -> None:
    ti = FakeTaskInstance()
    op = KubeRayDeployServiceOperator.__new__(KubeRayDeployServiceOperator)
    publish_links(op, ti, "https://ray.test/ml/rc")
    assert ti.xcoms == {
        "dashboard_url": "https://ray.test/ml/rc",
        "_link_RayServeDashboardLink": "https://ray.test/ml/rc/#/serve",
    }


def test_the_submitted_job_is_linked_as_soon_as_it_exists(fake_dashboard: FakeDashboard) -> None:
    ti = FakeTaskInstance()
    op = KubeRaySubmitJobOperator(
        task_id="task",
        entrypoint="python a.py",
        ray_dashboard_conn_id=None,
        dashboard_url=fake_dashboard.url,
        wait_for_completion=False,
        deferrable=False,
    )
    sid = op.execute(context_for(ti))
    assert ti.xcoms["_link_RayJobDashboardLink"] == f"{fake_dashboard.url}/#/jobs/{sid}"
    assert ti.xcoms["_link_RayClusterDashboardLink"] == f"{fake_dashboard.url}/#/cluster"


def test_a_rayjob_is_linked_once_kuberay_names_its_job(kube: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("airflow_provider_kuberay.operators._rayjob_links.NAMING_WAIT_SECONDS", 20.0)
    ti = FakeTaskInstance()
    name = resource_name(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, kind="RayJob")

    def name_the_job() -> None:  # as KubeRay's first reconcile does, before any pod runs
        for _ in range(300):
            if kube.get("RayJob", NS, name) is not None:
                kube.set_status("RayJob", NS, name, {"jobId": "rayjob-abc", "rayClusterName": "rc-1"})
                return
            time.sleep(0.05)

    threading.Thread(target=name_the_job, daemon=True).start()
    op = KubeRayRunJobOperator(
        task_id="task", entrypoint="python a.py", cluster=CLUSTER, wait_for_completion=False, deferrable=False
    )
    assert op.execute(context_for(ti)) == name
    # The `kube` fixture's connection reaches dashboards through its URL template.
    assert ti.xcoms["_link_RayJobDashboardLink"] == "https://ray.test/ml/rc-1/#/jobs/rayjob-abc"
    assert ti.xcoms["_link_RayClusterDashboardLink"] == "https://ray.test/ml/rc-1/#/cluster"
    assert ti.xcoms["submission_id"] == "rayjob-abc"


def test_a_rayjob_link_follows_dashboard_link(kube: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    kube.put_object("RayJob", {"metadata": {"name": "j", "namespace": NS}, "spec": {}})
    kube.set_status("RayJob", NS, "j", {"jobId": "rayjob-j", "rayClusterName": "rc-2"})
    from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
    from airflow_provider_kuberay.operators._rayjob_links import running_job_target

    template = "https://dash.example/{namespace}/{cluster}"
    assert running_job_target(KubeRayHook(), "j", NS, template) == ("https://dash.example/ml/rc-2", "rayjob-j")
    assert running_job_target(KubeRayHook(), "j", NS, None) == ("https://ray.test/ml/rc-2", "rayjob-j")
    kube.set_status("RayJob", NS, "j", {})
    assert running_job_target(KubeRayHook(), "j", NS, None, wait=0.1) is None
