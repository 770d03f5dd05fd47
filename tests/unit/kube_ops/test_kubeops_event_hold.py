"""A KubeRay resource trigger under a triggerer holds an early event until Airflow saw the deferral end."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from airflow_provider_kuberay.triggers.ray_job import RayJobTrigger
from tests.support.fake_kube_api import FakeKubeApi
from tests.support.loop_watchdog import first_event, run_watched

NS = "ml"  # the namespace of the `kube` fixture's connection (conftest.py)


@pytest.mark.parametrize("under_triggerer", [True, False])
def test_an_end_seen_at_once_is_sent_only_after_the_hold(
    kube: FakeKubeApi, monkeypatch: pytest.MonkeyPatch, under_triggerer: bool
) -> None:
    monkeypatch.setenv("AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL", "1")  # the hold: 1 + 2 s
    kube.put_object(
        "RayJob",
        {
            "metadata": {"name": "quick", "namespace": NS},
            "spec": {"entrypoint": "x"},
            "status": {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"},
        },
    )
    trigger = RayJobTrigger("quick", NS, "kuberay_default", stream_logs=False)
    if under_triggerer:
        trigger.task_instance = SimpleNamespace(task_id="t")  # type: ignore[assignment]
    started = time.monotonic()
    event, _ = run_watched(first_event(trigger))
    took = time.monotonic() - started
    assert event["outcome"] == "succeeded"
    if under_triggerer:
        assert 3.0 <= took < 5.5, f"the event came {took:.2f}s after the trigger started"
    else:
        assert took < 2.0, f"a trigger run outside a triggerer waited {took:.2f}s"
