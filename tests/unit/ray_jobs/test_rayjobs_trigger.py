"""RayDashboardJobTrigger against a fake dashboard: events, serialization, no blocking, no deletion."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_kuberay.triggers.ray_dashboard_job import RayDashboardJobTrigger
from tests.support.background import act_once
from tests.support.event_hold import assert_held_only_under_a_triggerer, first_event_and_its_wait
from tests.support.fake_dashboard import FakeDashboard
from tests.support.loop_watchdog import first_event, run_watched


def _trigger(fake: FakeDashboard, **kwargs: Any) -> RayDashboardJobTrigger:
    return RayDashboardJobTrigger(submission_id="s1", dashboard_url=fake.url, poll_interval=0.05, **kwargs)


def test_serializes_everything_needed_to_resume() -> None:
    trigger = RayDashboardJobTrigger(
        submission_id="s1", ray_dashboard_conn_id="ray", dashboard_url=None, poll_interval=2, deadline=123.0
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_kuberay.triggers.ray_dashboard_job.RayDashboardJobTrigger"
    rebuilt = RayDashboardJobTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_success_event_and_streamed_lines(fake_dashboard: FakeDashboard, capsys: pytest.CaptureFixture[str]) -> None:
    job = fake_dashboard.add_job("s1", status="RUNNING")
    fake_dashboard.log_chunks["s1"] = ["step 1\nstep", " 2\n"]

    def finish() -> None:
        job.status, job.message = "SUCCEEDED", "Job finished successfully."

    # The job ends once the stream delivered its log (its stored log is empty), however late the trigger started.
    act_once(lambda: fake_dashboard.delivered.get("s1", 0) == 2, finish)
    event, slow = run_watched(first_event(_trigger(fake_dashboard)))
    logged = capsys.readouterr().out  # Airflow's structured logger writes to stdout
    assert event["outcome"] == "succeeded"
    assert event["status"] == "SUCCEEDED"
    assert event["log_tail"] == ""
    assert "[ray] step 1" in logged
    assert "[ray] step 2" in logged
    assert slow == []


def test_job_already_terminal_is_judged_not_assumed(fake_dashboard: FakeDashboard) -> None:
    fake_dashboard.add_job("s1", status="FAILED", message="exit code 1", logs="a\nb\nTraceback: boom\n")
    event, _ = run_watched(first_event(_trigger(fake_dashboard, log_tail_lines=2)))
    assert event["outcome"] == "failed"
    assert event["message"] == "exit code 1"
    assert event["log_tail"] == "b\nTraceback: boom"


def test_stopped_is_a_failure(fake_dashboard: FakeDashboard) -> None:
    fake_dashboard.add_job("s1", status="STOPPED", message="Job was intentionally stopped.")
    event, _ = run_watched(first_event(_trigger(fake_dashboard, stream_logs=False)))
    assert (event["outcome"], event["status"]) == ("failed", "STOPPED")


def test_deadline_yields_timeout_and_never_stops_or_deletes(fake_dashboard: FakeDashboard) -> None:
    fake_dashboard.add_job("s1", status="RUNNING", logs="working\n")
    event, _ = run_watched(first_event(_trigger(fake_dashboard, deadline=time.time() + 0.3)))
    assert event["outcome"] == "timeout"
    assert "still running at the deadline" in event["message"]
    assert event["log_tail"] == "working"
    assert fake_dashboard.jobs["s1"].status == "RUNNING"
    assert fake_dashboard.calls("DELETE") == []
    assert fake_dashboard.calls("POST") == []


def test_unknown_job_gives_an_error_event(fake_dashboard: FakeDashboard) -> None:
    event, _ = run_watched(first_event(_trigger(fake_dashboard)))
    assert event["outcome"] == "error"
    assert "does not exist" in event["message"]


def test_cancelled_trigger_leaves_the_job_alone(fake_dashboard: FakeDashboard) -> None:
    fake_dashboard.add_job("s1", status="RUNNING")

    async def cancel_midway() -> None:
        task = asyncio.ensure_future(first_event(_trigger(fake_dashboard)))
        await asyncio.sleep(0.3)
        task.cancel()  # what the triggerer does on shutdown or reassignment
        with pytest.raises(asyncio.CancelledError):
            await task
        trigger = _trigger(fake_dashboard)
        await trigger.cleanup()  # Airflow awaits it after a cancel: it must not stop the job either

    run_watched(cancel_midway())
    assert fake_dashboard.jobs["s1"].status == "RUNNING"
    assert fake_dashboard.calls("DELETE") == []
    assert fake_dashboard.calls("POST") == []


def test_lines_the_stream_has_not_delivered_yet_come_from_the_log_at_the_end(
    fake_dashboard: FakeDashboard, capsys: pytest.CaptureFixture[str]
) -> None:
    # Ray's stream lags the job: at the job's end it has sent only part of the log.
    fake_dashboard.add_job("s1", status="SUCCEEDED", logs="first\nsecond\nthird\n")
    fake_dashboard.log_chunks["s1"] = ["first\nsec"]
    event, _ = run_watched(first_event(_trigger(fake_dashboard)))
    logged = [line.split("[ray] ")[1].split()[0] for line in capsys.readouterr().out.splitlines() if "[ray] " in line]
    assert event["outcome"] == "succeeded"
    assert logged == ["first", "second", "third"]  # each line once, whole, in order


def _ray_lines(captured: str) -> list[str]:
    return [line.split("[ray] ", 1)[1].split(" [")[0].strip() for line in captured.splitlines() if "[ray] " in line]


def test_a_broken_log_stream_resumes_where_it_stopped(
    fake_dashboard: FakeDashboard, capsys: pytest.CaptureFixture[str]
) -> None:
    # Only the stream carries the log here (the job's stored log stays empty), so every line in the
    # task log came through the stream: once before the break, once after it.
    job = fake_dashboard.add_job("s1", status="RUNNING", driver_node_id="node-1")
    fake_dashboard.log_chunks["s1"] = [f"line {i}\n" for i in range(10)]
    fake_dashboard.cut_stream_after["s1"] = 4

    def finish() -> None:
        job.status, job.message = "SUCCEEDED", "Job finished successfully."

    act_once(lambda: fake_dashboard.delivered.get("s1", 0) == 10, finish)  # the resumed stream delivered all
    event, slow = run_watched(first_event(_trigger(fake_dashboard)))
    captured = capsys.readouterr().out
    assert event["outcome"] == "succeeded"
    assert _ray_lines(captured) == [f"line {i}" for i in range(10)]
    assert "broke" in captured
    assert "resuming after line 4" in captured
    assert fake_dashboard.calls("GET").count("/api/v0/logs/stream") == 2
    assert "/api/jobs/s1/logs/tail" not in fake_dashboard.calls("GET")
    assert slow == []


@pytest.mark.parametrize("under_triggerer", [True, False])
def test_under_a_triggerer_an_early_end_waits_until_airflow_has_seen_the_deferral_end(
    fake_dashboard: FakeDashboard, monkeypatch: pytest.MonkeyPatch, under_triggerer: bool
) -> None:
    # Airflow 3.3.2 fails a resumed task whose trigger fired before the scheduler saw the deferring
    # worker exit (triggers/event_hold.py); a triggerer gives the trigger its task instance.
    fake_dashboard.add_job("s1", status="SUCCEEDED", message="Job finished successfully.")
    event, took = first_event_and_its_wait(_trigger(fake_dashboard, stream_logs=False), under_triggerer, monkeypatch)
    assert event["outcome"] == "succeeded"
    assert_held_only_under_a_triggerer(took, under_triggerer)
