"""
The Ray dashboard failing while a job runs (issue 8.2).

Jobs-API path: status reads retry transient failures and carry on; a dashboard that stays down
past the retry bound fails the task with the dashboard's URL and the last error; a broken log
stream resumes where it stopped, every line exactly once. RayJob path: with the dashboard
unreachable the trigger keeps following the RayJob resource to its end.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_kuberay.exceptions import RayJobFailedError
from airflow_provider_kuberay.operators import KubeRaySubmitJobOperator
from airflow_provider_kuberay.triggers.ray_dashboard_job import RayDashboardJobTrigger
from airflow_provider_kuberay.triggers.ray_job import RayJobTrigger
from tests.support.airflow_context import context_for
from tests.support.background import act_once
from tests.support.fake_dashboard import FakeDashboard
from tests.support.fake_kube_api import FakeKubeApi, running_fake_kube_api
from tests.support.loop_watchdog import first_event, run_watched

LINES = [f"line {n:03d}" for n in range(1, 61)]
TEXT = "".join(f"{line}\n" for line in LINES)
# Chunks that cut lines in the middle, as a live tail does.
CHUNKS = [TEXT[i : i + 23] for i in range(0, len(TEXT), 23)]


def _later(seconds: float, action: Any) -> None:
    threading.Timer(seconds, action).start()


def _once_submitted(dashboard: FakeDashboard, then: Any) -> None:
    """Run ``then`` once a job was submitted (however long the operator takes to get there under load)."""
    act_once(lambda: dashboard.jobs, then)


def _ray_lines(output: str) -> list[str]:
    return re.findall(r"\[ray\] (line \d{3})", output)


@pytest.fixture
def dashboard() -> Iterator[FakeDashboard]:
    fake = FakeDashboard().start()
    stopped = {"done": False}
    fake.stop_once = lambda: stopped.update(done=True) or fake.stop()  # type: ignore[attr-defined]
    try:
        yield fake
    finally:
        if not stopped["done"]:
            fake.stop()


def test_log_stream_resumes_after_breaks_without_duplicates_or_gaps(
    dashboard: FakeDashboard, capsys: pytest.CaptureFixture[str]
) -> None:
    job = dashboard.add_job("s1", status="RUNNING", logs=TEXT)
    dashboard.log_chunks["s1"] = CHUNKS
    # Connection 1 is cut mid-line, 2 and 3 are refused (dashboard restarting), 4 closes early and
    # cleanly, 5 streams to the end.
    dashboard.tail_plan = [("drop", 4), ("refuse", 503), ("refuse", 502), ("close", 9), ("all", -1)]
    dashboard.fail_next("/api/jobs/s1", 503, 3)  # status reads fail too while it restarts

    def finish_once_streamed() -> None:
        for _ in range(400):
            if dashboard.tail_connections >= 5:
                time.sleep(len(CHUNKS) * 0.01 + 0.3)
                job.status, job.message = "SUCCEEDED", "Job finished successfully."
                return
            time.sleep(0.05)

    threading.Thread(target=finish_once_streamed, daemon=True).start()
    trigger = RayDashboardJobTrigger(submission_id="s1", dashboard_url=dashboard.url, poll_interval=0.05)
    event, slow = run_watched(first_event(trigger))
    output = capsys.readouterr().out
    assert event["outcome"] == "succeeded", event
    assert dashboard.tail_connections >= 5
    assert _ray_lines(output) == LINES  # every line once, in order
    assert "broke" in output  # each break is reported in the task log
    assert slow == []


def test_transient_status_failures_are_retried_and_the_job_followed(dashboard: FakeDashboard) -> None:
    job = dashboard.add_job("s1", status="RUNNING")
    _later(0.2, lambda: dashboard.fail_next("/api/jobs/s1", 503, 3))
    _later(1.5, lambda: setattr(job, "status", "SUCCEEDED"))
    trigger = RayDashboardJobTrigger(submission_id="s1", dashboard_url=dashboard.url, poll_interval=0.05)
    event, _ = run_watched(first_event(trigger))
    assert event["outcome"] == "succeeded"
    assert dashboard.requests.count(("GET", "/api/jobs/s1")) >= 4


def test_dashboard_down_past_the_bound_fails_the_task_clearly(dashboard: FakeDashboard) -> None:
    url = dashboard.url
    op = KubeRaySubmitJobOperator(
        task_id="t", entrypoint="python a.py", dashboard_url=url, ray_dashboard_conn_id=None, poll_interval=0.05
    )
    _once_submitted(dashboard, then=dashboard.stop_once)  # type: ignore[attr-defined]
    started = time.monotonic()
    with pytest.raises(RayJobFailedError) as info:
        op.execute(context_for())  # type: ignore[arg-type]
    message = str(info.value)
    assert f"Ray dashboard at {url} unreachable" in message
    assert "after 5 attempts" in message
    assert "ClientConnectorError" in message or "Connect" in message
    assert time.monotonic() - started < 30  # bounded: it gives up, it does not hang


def test_persistent_5xx_fails_with_the_status_url_and_answer(dashboard: FakeDashboard) -> None:
    dashboard.add_job("s1", status="RUNNING")
    _later(0.2, lambda: dashboard.fail_next("/api/jobs/s1", 500, 1000))
    trigger = RayDashboardJobTrigger(
        submission_id="s1", dashboard_url=dashboard.url, poll_interval=0.05, stream_logs=False
    )
    event, _ = run_watched(first_event(trigger))
    assert event["outcome"] == "error"
    assert f"Ray dashboard at {dashboard.url} answered HTTP 500" in event["message"]
    assert "after 5 attempts" in event["message"]
    assert "scripted failure 500" in event["message"]


# -- RayJob path ------------------------------------------------------------------------------------
NS = "ml"


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeApi]:
    for api in running_fake_kube_api():
        # The dashboard URL points at a port nothing listens on: the dashboard is unreachable.
        monkeypatch.setenv(
            "AIRFLOW_CONN_KUBERAY_DEFAULT",
            api.connection_json(namespace=NS, dashboard_access="url", dashboard_url="http://127.0.0.1:9/{cluster}"),
        )
        yield api


@pytest.mark.parametrize("mode", ["HTTPMode", "K8sJobMode"])
@pytest.mark.parametrize(("final", "outcome"), [("SUCCEEDED", "succeeded"), ("FAILED", "failed")])
def test_rayjob_trigger_follows_the_resource_while_the_dashboard_is_unreachable(
    kube: FakeKubeApi, capsys: pytest.CaptureFixture[str], mode: str, final: str, outcome: str
) -> None:
    running = {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING", "jobId": "j1", "rayClusterName": "rc"}
    kube.put_object(
        "RayJob", {"metadata": {"name": "job", "namespace": NS}, "spec": {"submissionMode": mode}, "status": running}
    )
    if mode == "K8sJobMode":
        kube.add_pod("job-abc", NS, labels={"job-name": "job"}, log_chunks=["from the submitter\n"])
    done = {
        **running,
        "jobDeploymentStatus": "Complete" if final == "SUCCEEDED" else "Failed",
        "jobStatus": final,
        "reason": "" if final == "SUCCEEDED" else "AppFailed",
        "message": "" if final == "SUCCEEDED" else "exit code 3",
    }
    _later(1.5, lambda: kube.set_status("RayJob", NS, "job", done))
    trigger = RayJobTrigger(name="job", namespace=NS, kuberay_conn_id="kuberay_default", resync_interval=0.5)
    event, _ = run_watched(first_event(trigger))
    output = capsys.readouterr().out
    assert event["outcome"] == outcome, event
    assert event["job_status"] == final
    if mode == "K8sJobMode":
        assert "[ray] from the submitter" in output  # the log came from the submitter pod
    else:
        assert "127.0.0.1:9" in output  # the unreachable dashboard is reported, not fatal
    if outcome == "failed":
        assert event["reason"] == "AppFailed"
