"""Trigger event payloads are validated when read: a broken payload names its field instead of failing later."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_kuberay.exceptions import TriggerEventError
from airflow_provider_kuberay.triggers.events import (
    ClusterEvent,
    JobsApiEvent,
    Outcome,
    RayJobEvent,
    ServiceEvent,
    event_from_payload,
)

SERVICE = {"kind": "RayService", "name": "s", "namespace": "ns", "outcome": "succeeded"}


@pytest.mark.parametrize(
    "event",
    [
        JobsApiEvent(submission_id="s1", outcome=Outcome.FAILED, status="FAILED", error_type="E", log_tail="x"),
        ClusterEvent(name="c", namespace="ns", outcome=Outcome.SUCCEEDED, phase="READY", head_service_name="h"),
        RayJobEvent(name="j", namespace="ns", outcome=Outcome.TIMEOUT, events=["Warning X: y"], job_id="raysubmit_1"),
        ServiceEvent(name="s", namespace="ns", outcome=Outcome.ERROR, carry={"a": [1]}, generation=3),
    ],
    ids=lambda event: type(event).__name__,
)
def test_every_event_survives_its_payload(event: Any) -> None:
    payload = event.to_payload()
    assert payload["outcome"] == event.outcome.value
    assert ("kind" in payload) is not isinstance(event, JobsApiEvent)
    assert event_from_payload(payload) == event
    assert type(event).from_payload(payload) == event


@pytest.mark.parametrize(
    ("payload", "names"),
    [
        ({"kind": "RayService", "namespace": "ns", "outcome": "failed"}, "lacks 'name'"),
        ({**SERVICE, "outcome": "exploded"}, "'outcome'"),
        ({**SERVICE, "generation": "3"}, "'generation' must be int | None"),
        ({**SERVICE, "generation": True}, "'generation'"),
        ({**SERVICE, "applications": {"app": 1}}, "'applications'"),
        ({**SERVICE, "events": "Warning X"}, "'events' must be list[str]"),
        ({**SERVICE, "carry": ["x"]}, "'carry'"),
        ({**SERVICE, "kind": "RayCron"}, "unknown trigger event kind 'RayCron'"),
        ({"outcome": "failed"}, "JobsApiEvent payload lacks 'submission_id'"),
        ({"submission_id": 7, "outcome": "failed"}, "'submission_id' must be str"),
        ("succeeded", "must be a mapping"),
    ],
)
def test_broken_payloads_name_what_is_wrong(payload: Any, names: str) -> None:
    with pytest.raises(TriggerEventError, match=names.replace("|", r"\|").replace("[", r"\[").replace("]", r"\]")):
        event_from_payload(payload)


def test_a_payload_of_another_kind_is_refused() -> None:
    with pytest.raises(TriggerEventError, match="must be of kind 'RayCluster'"):
        ClusterEvent.from_payload(SERVICE)


def test_null_text_and_absent_fields_take_their_defaults() -> None:
    event = RayJobEvent.from_payload(
        {"kind": "RayJob", "name": "j", "namespace": "ns", "outcome": "failed", "job_id": None}
    )
    assert event.job_id == ""
    assert event.events == []
    assert event.reason == ""
