"""The RayJob trigger learns of the end from the watch event at once: no poll, no re-read in between."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_kuberay.triggers.ray_job import RayJobTrigger
from tests.support.fake_kube_api import FakeKubeApi
from tests.support.loop_watchdog import first_event, run_watched

NS = "ml"  # the namespace of the `kube` fixture's connection (conftest.py)
ENDS = {
    "succeeded": {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"},
    "failed": {"jobDeploymentStatus": "Failed", "jobStatus": "FAILED", "reason": "AppFailed", "message": "exit 3"},
}
# Far longer than the test: an end seen sooner came from the watch event, not a re-read.
RESYNC = 60.0


@pytest.mark.parametrize("outcome", sorted(ENDS))
def test_the_watch_event_of_the_end_yields_the_event_at_once(kube: FakeKubeApi, outcome: str) -> None:
    kube.put_object("RayJob", {"metadata": {"name": "ends", "namespace": NS}, "spec": {"entrypoint": "x"}})

    async def scenario() -> tuple[dict[str, Any], float]:
        trigger = RayJobTrigger("ends", NS, "kuberay_default", stream_logs=False, resync_interval=RESYNC)
        waiting = asyncio.ensure_future(first_event(trigger))
        await asyncio.sleep(1.0)  # the trigger waits on the shared watch
        await asyncio.to_thread(kube.set_status, "RayJob", NS, "ends", ENDS[outcome])
        changed = time.monotonic()
        event = await asyncio.wait_for(waiting, RESYNC / 2)
        return event, time.monotonic() - changed

    (event, delay), _ = run_watched(scenario())
    assert event["outcome"] == outcome
    assert delay < RESYNC / 20, f"the end took {delay:.2f} s to reach the trigger's event"  # benchmarks/ times it
    reads = kube.calls("GET", f"/apis/ray.io/v1/namespaces/{NS}/rayjobs/ends")
    assert len(reads) <= 1  # at most the trigger's first read: the end came with the watch
