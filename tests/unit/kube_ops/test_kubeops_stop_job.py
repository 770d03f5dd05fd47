"""KubeRayStopJobOperator: stop a Jobs API job or delete a RayJob, idempotently."""

from __future__ import annotations

import pytest

from airflow_provider_kuberay.operators import KubeRayStopJobOperator
from tests.support.airflow_context import context_for
from tests.support.fake_dashboard import FakeDashboard
from tests.support.fake_kube_api import FakeKubeApi

NS = "ml"  # the namespace of the `kube` fixture's connection (conftest.py)


def _stop(fake: FakeDashboard, submission_id: str) -> KubeRayStopJobOperator:
    return KubeRayStopJobOperator(
        task_id="stop",
        submission_id=submission_id,
        ray_dashboard_conn_id=None,
        dashboard_url=fake.url,
        poll_interval=0.05,
    )


def test_stopping_a_jobs_api_job_is_idempotent(fake_dashboard: FakeDashboard) -> None:
    fake_dashboard.add_job("sid-1", status="RUNNING")
    assert _stop(fake_dashboard, "sid-1").execute(context_for()) is True
    assert fake_dashboard.jobs["sid-1"].status == "STOPPED"
    assert _stop(fake_dashboard, "sid-1").execute(context_for()) is False  # ended already
    assert _stop(fake_dashboard, "no-such-job").execute(context_for()) is False  # never existed


def test_deleting_a_rayjob_is_idempotent(kube: FakeKubeApi) -> None:
    kube.put_object("RayJob", {"metadata": {"name": "j", "namespace": NS}, "spec": {"entrypoint": "x"}})
    op = KubeRayStopJobOperator(task_id="stop", rayjob_name="j", poll_interval=0.05, timeout_seconds=10)
    assert op.execute(context_for()) is True
    assert kube.get("RayJob", NS, "j") is None
    assert op.execute(context_for()) is False


@pytest.mark.parametrize("kwargs", [{}, {"submission_id": "a", "rayjob_name": "b"}])
def test_exactly_one_target_is_required(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="either submission_id"):
        KubeRayStopJobOperator(task_id="stop", **kwargs)


def test_bad_names_fail_before_any_request(fake_dashboard: FakeDashboard) -> None:
    with pytest.raises(ValueError, match="submission_id"):
        _stop(fake_dashboard, "has space").execute(context_for())
    assert fake_dashboard.requests == []
