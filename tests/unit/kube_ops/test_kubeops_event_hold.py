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
