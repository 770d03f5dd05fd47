"""A KubeRay resource trigger under a triggerer holds an early event until Airflow saw the deferral end."""

from __future__ import annotations

import pytest

from airflow_provider_kuberay.triggers.ray_job import RayJobTrigger
from tests.support.event_hold import assert_held_only_under_a_triggerer, first_event_and_its_wait
from tests.support.fake_kube_api import FakeKubeApi

NS = "ml"  # the namespace of the `kube` fixture's connection (conftest.py)


@pytest.mark.parametrize("under_triggerer", [True, False])
def test_an_end_seen_at_once_is_sent_only_after_the_hold(
    kube: FakeKubeApi, monkeypatch: pytest.MonkeyPatch, under_triggerer: bool
) -> None:
    kube.put_object(
        "RayJob",
        {
            "metadata": {"name": "quick", "namespace": NS},
            "spec": {"entrypoint": "x"},
            "status": {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"},
        },
    )
    trigger = RayJobTrigger("quick", NS, "kuberay_default", stream_logs=False)
    event, took = first_event_and_its_wait(trigger, under_triggerer, monkeypatch)
    assert event["outcome"] == "succeeded"
    assert_held_only_under_a_triggerer(took, under_triggerer)


class _Lines:
    """A logger that keeps the formatted lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str, *args: object) -> None:
        self.lines.append(message % args)


@pytest.mark.parametrize(("under_triggerer", "started_ago", "said"), [
    (True, 0.0, "Sending the event in"),  # waits what is left, saying so
    (True, 60.0, "Sending the event: Airflow has had"),  # nothing left: one line all the same
    (False, 0.0, None),  # no triggerer, no hold, no line
])  # fmt: skip
def test_the_hold_says_in_the_task_log_how_it_went(
    monkeypatch: pytest.MonkeyPatch, under_triggerer: bool, started_ago: float, said: str | None
) -> None:
    import asyncio

    from airflow_provider_kuberay.triggers.event_hold import EventHold

    monkeypatch.setenv("AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL", "0.1")
    hold = EventHold(object() if under_triggerer else None)
    hold.until -= started_ago
    log = _Lines()
    asyncio.run(hold.wait(log))
    if said is None:
        assert log.lines == []
    else:
        assert len(log.lines) == 1, log.lines
        assert log.lines[0].startswith(said), log.lines
        assert "this task's deferral end" in log.lines[0]  # what the deploy tier looks for
