"""
A task deferred by the release before typed events resumes after the upgrade: the triggers it
stored rebuild, and the events they sent are read and judged as that release judged them
(recorded in ``tests/data/events``, see its README).
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_kuberay.exceptions import (
    KubeRayApiError,
    KubeRayResourceFailedError,
    KubeRayTimeoutError,
    RayJobFailedError,
)
from airflow_provider_kuberay.operators import (
    KubeRayCreateClusterOperator,
    KubeRayDeployServiceOperator,
    KubeRayRunJobOperator,
    KubeRaySubmitJobOperator,
)
from airflow_provider_kuberay.sensors import KubeRayClusterSensor, KubeRayJobSensor, KubeRayServiceSensor
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, ServiceSpec
from airflow_provider_kuberay.tasks.failure import failure_text
from airflow_provider_kuberay.triggers.events import event_from_payload
from tests.support.airflow_context import FakeTaskInstance, context_for
from tests.support.fake_dashboard import FakeDashboard
from tests.support.fake_kube_api import FakeKubeApi

RECORDED = Path(__file__).resolve().parents[2] / "data" / "events"  # its `kube` fixture: namespace "ml", as recorded
FILES = sorted(RECORDED.glob("*.json"))
EVENTS = [path for path in FILES if "event" in json.loads(path.read_text())]
CLUSTER = ClusterSpec(image="rayproject/ray:2.52.0", ray_version="2.52.0", head=HeadGroup())
SERVE = {"applications": [{"name": "fruit_app", "import_path": "fruit:app"}]}
# Which error fails the task, per recorded event family and outcome.
ERRORS: dict[tuple[str, str], type[Exception]] = {
    **{("jobs_api", outcome): RayJobFailedError for outcome in ("failed", "timeout", "error")},
    **{("rayjob", outcome): RayJobFailedError for outcome in ("failed", "timeout", "error")},
    **{
        (family, outcome): error
        for family in ("cluster", "service")
        for outcome, error in (
            ("failed", KubeRayResourceFailedError),
            ("timeout", KubeRayTimeoutError),
            ("error", KubeRayApiError),
        )
    },
}


def _recorded(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def _family(path: Path) -> str:
    return path.name.split("_")[0] if not path.name.startswith("jobs_api") else "jobs_api"


def test_every_trigger_and_outcome_was_recorded() -> None:
    families = {(_family(path), _recorded(path)["event"]["outcome"]) for path in EVENTS}
    assert families == set(ERRORS) | {(family, "succeeded") for family in ("jobs_api", "rayjob", "cluster", "service")}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_stored_triggers_rebuild_and_serialize_the_same(path: Path) -> None:
    stored = _recorded(path)["trigger"]
    module, _, name = stored["classpath"].rpartition(".")
    trigger = getattr(importlib.import_module(module), name)(**stored["kwargs"])
    assert trigger.serialize() == (stored["classpath"], stored["kwargs"])


@pytest.mark.parametrize("path", EVENTS, ids=lambda p: p.stem)
def test_recorded_events_read_back_and_say_the_same(path: Path) -> None:
    recorded = _recorded(path)
    event = event_from_payload(recorded["event"])
    payload = event.to_payload()
    # Every key the old release sent keeps its value; new keys only add defaults.
    assert {key: payload[key] for key in recorded["event"]} == recorded["event"]
    assert event_from_payload(payload) == event
    assert event.succeeded is (recorded["event"]["outcome"] == "succeeded")
    if not event.succeeded:
        assert failure_text(event) == recorded["failure_text"]


def _operator(family: str, fake_dashboard: FakeDashboard) -> Any:
    if family == "jobs_api":
        return KubeRaySubmitJobOperator(task_id="t", entrypoint="python a.py", dashboard_url=fake_dashboard.url)
    if family == "rayjob":
        return KubeRayRunJobOperator(task_id="t", entrypoint="python a.py", cluster=CLUSTER)
    if family == "cluster":
        return KubeRayCreateClusterOperator(task_id="t", cluster=CLUSTER)
    return KubeRayDeployServiceOperator(task_id="t", service=ServiceSpec(serve_config=SERVE, cluster=CLUSTER))


def _sensor(family: str, fake_dashboard: FakeDashboard) -> Any:
    if family == "jobs_api":
        return KubeRayJobSensor(task_id="s", submission_id="s1", dashboard_url=fake_dashboard.url)
    if family == "rayjob":
        return KubeRayJobSensor(task_id="s", job_name="j")
    if family == "cluster":
        return KubeRayClusterSensor(task_id="s", cluster_name="c")
    return KubeRayServiceSensor(task_id="s", service_name="svc")


@pytest.mark.parametrize("path", EVENTS, ids=lambda p: p.stem)
def test_operators_resume_from_recorded_events(path: Path, kube: FakeKubeApi, fake_dashboard: FakeDashboard) -> None:
    recorded, family = _recorded(path), _family(path)
    event = recorded["event"]
    ti = FakeTaskInstance()
    operator = _operator(family, fake_dashboard)
    if event["outcome"] != "succeeded":
        with pytest.raises(ERRORS[family, event["outcome"]]) as info:
            operator.execute_complete(context_for(ti), event)
        assert str(info.value).startswith(recorded["failure_text"])
        return
    result = operator.execute_complete(context_for(ti), event)
    if family == "jobs_api":
        assert result == event["submission_id"]
        assert ti.xcoms["job_status"] == "SUCCEEDED"
    elif family == "rayjob":
        assert {key: result[key] for key in ("name", "job_id", "ray_cluster_name", "job_status")} == {
            key: event[key] for key in ("name", "job_id", "ray_cluster_name", "job_status")
        }
        assert result["dashboard_url"] == f"http://{event['dashboard_url']}"
        assert ti.xcoms["submission_id"] == event["job_id"]
    elif family == "cluster":
        assert result == {"cluster_name": "ready", "namespace": "ml", "dashboard_url": "https://ray.test/ml/ready"}
    else:
        assert result["active_cluster"] == event["active_cluster"] == ti.xcoms["active_cluster"]
        assert result["applications"] == event["applications"]
        assert result["generation"] == event["generation"]
        assert result["strategy"] == event["carry"]["strategy"]


@pytest.mark.parametrize("path", EVENTS, ids=lambda p: p.stem)
def test_sensors_resume_from_recorded_events(path: Path, kube: FakeKubeApi, fake_dashboard: FakeDashboard) -> None:
    from tests.support.airflow_exceptions import AirflowSkipException

    recorded, family = _recorded(path), _family(path)
    event = recorded["event"]
    sensor = _sensor(family, fake_dashboard)
    if event["outcome"] == "succeeded":
        assert sensor.execute_complete(context_for(), event) is None
        return
    with pytest.raises(ERRORS[family, event["outcome"]]) as info:
        sensor.execute_complete(context_for(), event)
    assert str(info.value) == recorded["failure_text"]
    sensor.soft_fail = True
    with pytest.raises(AirflowSkipException, match="^" + re.escape(recorded["failure_text"])):
        sensor.execute_complete(context_for(), event)
