"""
RayDashboardJobTrigger sees a job's end as it happens (a fake dashboard at the HTTP boundary): Ray's
supervisor log signals it, the status is read at once, and a Ray without that log is polled.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from airflow_provider_kuberay.triggers.job_end import RECHECKS
from airflow_provider_kuberay.triggers.ray_dashboard_job import RayDashboardJobTrigger
from tests.support.fake_dashboard import FakeDashboard
from tests.support.loop_watchdog import first_event, run_watched

SUPERVISOR_STREAM = "/api/v0/logs/stream?filename=jobs/supervisor-s1.log"
# Far longer than any wait below: an end seen within it was not found by the poll.
LONG_POLL = 30.0
# A tenth of LONG_POLL: an end seen within it came from the signal. Tight enough to tell the two apart,
# loose enough for a shared 2-core host's stalls; how fast it really is, benchmarks/ measures.
SIGNALLED = 3.0


def _trigger(fake: FakeDashboard, **kwargs: Any) -> RayDashboardJobTrigger:
    return RayDashboardJobTrigger(submission_id="s1", dashboard_url=fake.url, **kwargs)


async def _event_and_delay(trigger: RayDashboardJobTrigger, end: Any, after: float) -> tuple[dict[str, Any], float]:
    """The trigger's first event, and how long after ``end`` ran (in a thread, ``after`` s in) it came."""
    ended = threading.Event()
    ended_at: list[float] = []

    def finish() -> None:
        end()
        ended_at.append(time.monotonic())
        ended.set()

    threading.Timer(after, finish).start()
    event = await asyncio.wait_for(first_event(trigger), LONG_POLL / 2)
    assert ended.is_set(), "the event came before the job ended"
    return event, time.monotonic() - ended_at[0]


@pytest.mark.parametrize("stream_logs", [True, False])
def test_the_end_is_seen_when_the_supervisor_signals_it(fake_dashboard: FakeDashboard, stream_logs: bool) -> None:
    job = fake_dashboard.add_job("s1", status="RUNNING", driver_node_id="node-1", supervisor_log=["started\n"])
    trigger = _trigger(fake_dashboard, poll_interval=LONG_POLL, stream_logs=stream_logs)
    (event, delay), slow = run_watched(
        _event_and_delay(trigger, lambda: job.end("SUCCEEDED", "Job finished successfully."), 1.0)
    )
    assert event["outcome"] == "succeeded"
    assert delay < SIGNALLED, f"the end took {delay:.2f} s to be seen"  # the signal, not the 30 s poll
    assert fake_dashboard.calls("GET").count(SUPERVISOR_STREAM) == 1
    # Bounded reads: the first; at the stream's start (the job left PENDING, its first line) and at the end,
    # one read and its re-checks each.
    assert fake_dashboard.calls("GET").count("/api/jobs/s1") <= 2 * len(RECHECKS) + 6
    assert slow == []


def test_a_status_recorded_after_the_signal_is_read_again_shortly(fake_dashboard: FakeDashboard) -> None:
    # Ray's supervisor logs the exit, then records the status: here 0.1 s later.
    job = fake_dashboard.add_job("s1", status="RUNNING", driver_node_id="node-1", supervisor_log=["started\n"])

    def end_late() -> None:
        assert job.supervisor_log is not None
        job.supervisor_log.append("INFO job_supervisor.py -- Job s1 entrypoint command exited with code 1\n")
        time.sleep(0.1)
        job.status, job.message = "FAILED", "Job entrypoint command failed with exit code 1"

    trigger = _trigger(fake_dashboard, poll_interval=LONG_POLL, stream_logs=False)
    (event, delay), _ = run_watched(_event_and_delay(trigger, end_late, 1.0))
    assert (event["outcome"], event["status"]) == ("failed", "FAILED")
    assert event["message"] == "Job entrypoint command failed with exit code 1"
    assert delay < SIGNALLED, f"the end took {delay:.2f} s to be seen"


def test_a_ray_without_the_supervisor_log_is_polled(
    fake_dashboard: FakeDashboard, capsys: pytest.CaptureFixture[str]
) -> None:
    job = fake_dashboard.add_job("s1", status="RUNNING", driver_node_id="node-1")  # no supervisor log
    trigger = _trigger(fake_dashboard, poll_interval=0.5, stream_logs=False)
    (event, delay), slow = run_watched(_event_and_delay(trigger, lambda: job.end("STOPPED", "stopped"), 0.7))
    assert (event["outcome"], event["status"]) == ("failed", "STOPPED")
    assert delay < 0.5 + 0.5  # the next poll
    assert "is found by polling every 0.5s" in capsys.readouterr().out
    assert fake_dashboard.calls("GET").count(SUPERVISOR_STREAM) == 1  # refused once, not retried
    assert slow == []


def test_a_job_that_ended_before_the_signal_stream_opened_is_seen_at_its_first_line(
    fake_dashboard: FakeDashboard,
) -> None:
    # The stream starts at the supervisor log's last line: the end, already written.
    job = fake_dashboard.add_job("s1", status="RUNNING", driver_node_id="node-1", supervisor_log=[])
    job.supervisor_log = ["INFO job_supervisor.py -- Job s1 entrypoint command exited with code 0\n"]

    async def scenario() -> tuple[dict[str, Any], float]:
        trigger = _trigger(fake_dashboard, poll_interval=LONG_POLL, stream_logs=False)
        started = time.monotonic()
        task = asyncio.ensure_future(first_event(trigger))
        await asyncio.sleep(0.3)
        job.status, job.message = "SUCCEEDED", "done"  # recorded once the first read has passed
        event = await asyncio.wait_for(task, LONG_POLL / 2)
        return event, time.monotonic() - started

    (event, elapsed), _ = run_watched(scenario())
    assert event["outcome"] == "succeeded"
    assert elapsed < SIGNALLED


def test_a_broken_signal_stream_is_followed_again(fake_dashboard: FakeDashboard) -> None:
    job = fake_dashboard.add_job("s1", status="RUNNING", driver_node_id="node-1", supervisor_log=["started\n"])
    fake_dashboard.fail_next("/api/v0/logs/stream", 0)  # the first connection is dropped
    trigger = _trigger(fake_dashboard, poll_interval=LONG_POLL, stream_logs=False)
    (event, delay), _ = run_watched(_event_and_delay(trigger, lambda: job.end("SUCCEEDED", "done"), 2.5))
    assert event["outcome"] == "succeeded"
    assert delay < SIGNALLED, f"the end took {delay:.2f} s to be seen"
    assert fake_dashboard.calls("GET").count(SUPERVISOR_STREAM) == 2
