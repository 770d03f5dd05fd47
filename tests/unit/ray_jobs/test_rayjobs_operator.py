"""KubeRaySubmitJobOperator and KubeRayJobSensor with the Ray dashboard faked at the HTTP boundary."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_kuberay.exceptions import RayJobFailedError
from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
from airflow_provider_kuberay.hooks.retry import RetryPolicy
from airflow_provider_kuberay.operators import KubeRaySubmitJobOperator
from airflow_provider_kuberay.sensors import KubeRayJobSensor
from airflow_provider_kuberay.tasks.identity import submission_id_for
from airflow_provider_kuberay.triggers import RayDashboardJobTrigger
from tests.support.airflow_context import FakeTaskInstance, context_for
from tests.support.airflow_exceptions import AirflowSkipException, TaskDeferred
from tests.support.fake_dashboard import FakeDashboard

FAST = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.01)


def _operator(fake: FakeDashboard, **kwargs: Any) -> KubeRaySubmitJobOperator:
    defaults: dict[str, Any] = {
        "task_id": "task",
        "entrypoint": "python a.py",
        "deferrable": False,
        "poll_interval": 0.05,
    }
    op = KubeRaySubmitJobOperator(**{**defaults, **kwargs}, dashboard_url=fake.url, ray_dashboard_conn_id=None)
    op.__dict__["hook"] = RayDashboardHook(None, dashboard_url=fake.url, retry_policy=FAST)
    return op


def _expected_id(ti: FakeTaskInstance) -> str:
    return submission_id_for(ti.dag_id, ti.task_id, ti.run_id, ti.map_index)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"entrypoint_num_cpus": -1}, "entrypoint_num_cpus"),
        ({"entrypoint_num_gpus": "two"}, "entrypoint_num_gpus"),
        ({"entrypoint_memory": 1.5}, "entrypoint_memory"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"log_tail_lines": -3}, "log_tail_lines"),
    ],
)
def test_bad_numbers_fail_when_the_dag_is_built(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        KubeRaySubmitJobOperator(task_id="t", entrypoint="python a.py", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"entrypoint": "  "}, "entrypoint"),
        ({"runtime_env": "- not\n- a mapping"}, "runtime_env"),
        ({"runtime_env": {"working_dir": "/no/such/dir"}}, "runtime_env.working_dir"),
        ({"submission_id": "has space"}, "submission_id"),
        ({"metadata": ["a"]}, "metadata"),
        ({"entrypoint_resources": {"TPU": -1}}, "entrypoint_resources"),
    ],
)
def test_bad_rendered_input_fails_before_any_api_call(
    fake_dashboard: FakeDashboard, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        _operator(fake_dashboard, **kwargs).execute(context_for())
    assert fake_dashboard.requests == []


def test_success_pushes_xcoms_and_returns_the_submission_id(fake_dashboard: FakeDashboard) -> None:
    ti = FakeTaskInstance()
    sid = _expected_id(ti)
    fake_dashboard.log_chunks[sid] = ["hello from ray\n"]
    op = _operator(fake_dashboard, runtime_env="env_vars: {A: '1'}", entrypoint_num_cpus=1, metadata={"team": "ml"})

    def finish_when_polled() -> None:
        fake_dashboard.jobs[sid].status = "SUCCEEDED"

    threading.Timer(0.3, finish_when_polled).start()
    assert op.execute(context_for(ti)) == sid
    assert ti.xcoms == {
        "submission_id": sid,
        "dashboard_url": fake_dashboard.url,
        "job_status": "SUCCEEDED",
        # The links are stored as soon as the job is submitted, not only when the task ends.
        "_link_RayJobDashboardLink": f"{fake_dashboard.url}/#/jobs/{sid}",
        "_link_RayClusterDashboardLink": f"{fake_dashboard.url}/#/cluster",
    }
    sent = fake_dashboard.last_submission
    assert sent["runtime_env"] == {"env_vars": {"A": "1"}}
    assert sent["entrypoint_num_cpus"] == 1
    assert sent["metadata"]["team"] == "ml"
    assert sent["metadata"]["airflow_try_number"] == "1"


def test_failure_raises_with_rays_message_and_log_tail(fake_dashboard: FakeDashboard) -> None:
    ti = FakeTaskInstance()
    sid = _expected_id(ti)
    fake_dashboard.add_job(
        sid, status="FAILED", message="Job entrypoint command failed with exit code 3", logs="x\ny\nValueError: bad\n"
    )
    fake_dashboard.jobs[sid].metadata = {"airflow_try_number": "1"}
    with pytest.raises(RayJobFailedError, match="exit code 3") as info:
        _operator(fake_dashboard, log_tail_lines=2).execute(context_for(ti))
    assert str(info.value).endswith("y\nValueError: bad")
    assert ti.xcoms["job_status"] == "FAILED"
    assert fake_dashboard.calls("DELETE") == []  # same try: judged, not resubmitted


def test_retry_adopts_a_running_job_instead_of_submitting_twice(fake_dashboard: FakeDashboard) -> None:
    ti = FakeTaskInstance(try_number=2)
    sid = _expected_id(ti)
    fake_dashboard.add_job(sid, status="SUCCEEDED", metadata={"airflow_try_number": "1"})
    assert _operator(fake_dashboard).execute(context_for(ti)) == sid
    assert fake_dashboard.calls("POST") == ["/api/jobs/"]  # one refused submission, no second job
    assert len(fake_dashboard.jobs) == 1


def test_retry_resubmits_a_job_that_failed_in_an_earlier_try(fake_dashboard: FakeDashboard) -> None:
    ti = FakeTaskInstance(try_number=2)
    sid = _expected_id(ti)
    fake_dashboard.add_job(sid, status="FAILED", metadata={"airflow_try_number": "1"})
    op = _operator(fake_dashboard, wait_for_completion=False)
    assert op.execute(context_for(ti)) == sid
    assert fake_dashboard.calls("DELETE") == [f"/api/jobs/{sid}"]
    assert fake_dashboard.jobs[sid].metadata["airflow_try_number"] == "2"
    assert fake_dashboard.jobs[sid].status == "PENDING"


def test_deferrable_defers_with_everything_the_trigger_needs(fake_dashboard: FakeDashboard) -> None:
    ti = FakeTaskInstance()
    op = _operator(fake_dashboard, deferrable=True, execution_timeout=timedelta(minutes=10))
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context_for(ti))
    trigger = deferred.value.trigger
    assert isinstance(trigger, RayDashboardJobTrigger)
    assert trigger.submission_id == _expected_id(ti)
    assert trigger.dashboard_url == fake_dashboard.url
    assert trigger.deadline == pytest.approx(ti.start_date.timestamp() + 600)
    assert deferred.value.method_name == "execute_complete"
    assert ti.xcoms["submission_id"] == trigger.submission_id  # visible while deferred


def test_execute_complete_judges_the_event_alone(fake_dashboard: FakeDashboard) -> None:
    op = _operator(fake_dashboard)
    ti = FakeTaskInstance()
    assert (
        op.execute_complete(context_for(ti), {"submission_id": "s", "outcome": "succeeded", "status": "SUCCEEDED"})
        == "s"
    )
    with pytest.raises(RayJobFailedError, match="could not be followed: boom"):
        op.execute_complete(context_for(ti), {"submission_id": "s", "outcome": "error", "message": "boom"})


def test_timeout_event_stops_the_job(fake_dashboard: FakeDashboard) -> None:
    fake_dashboard.add_job("s", status="RUNNING")
    with pytest.raises(RayJobFailedError, match="deadline"):
        _operator(fake_dashboard).execute_complete(context_for(), {"submission_id": "s", "outcome": "timeout"})
    assert fake_dashboard.jobs["s"].status == "STOPPED"


def test_on_kill_stops_only_the_job_this_task_submitted(fake_dashboard: FakeDashboard) -> None:
    other = fake_dashboard.add_job("someone-elses-job", status="RUNNING")
    op = _operator(fake_dashboard)
    op.on_kill()  # nothing submitted yet: nothing stopped
    assert fake_dashboard.calls("POST") == []
    op_no_wait = _operator(fake_dashboard, wait_for_completion=False)
    sid = op_no_wait.execute(context_for())
    fake_dashboard.jobs[sid].status = "RUNNING"
    op_no_wait.on_kill()
    assert fake_dashboard.jobs[sid].status == "STOPPED"
    assert other.status == "RUNNING"


def test_sensor_pokes_and_fails_with_the_reason(fake_dashboard: FakeDashboard) -> None:
    job = fake_dashboard.add_job("s", status="RUNNING")
    sensor = KubeRayJobSensor(
        task_id="wait", submission_id="s", ray_dashboard_conn_id=None, dashboard_url=fake_dashboard.url
    )
    assert sensor.poke(context_for()) is False
    job.status = "SUCCEEDED"
    assert sensor.poke(context_for()) is True
    job.status, job.message, job.logs = "FAILED", "exit code 2", "oops\n"
    with pytest.raises(RayJobFailedError, match="exit code 2"):
        sensor.poke(context_for())
    soft = KubeRayJobSensor(
        task_id="w2", submission_id="s", ray_dashboard_conn_id=None, dashboard_url=fake_dashboard.url, soft_fail=True
    )
    with pytest.raises(AirflowSkipException):
        soft.poke(context_for())


def test_deferrable_sensor_shares_the_trigger(fake_dashboard: FakeDashboard) -> None:
    fake_dashboard.add_job("s", status="RUNNING")
    sensor = KubeRayJobSensor(
        task_id="wait", submission_id="s", ray_dashboard_conn_id=None, dashboard_url=fake_dashboard.url, deferrable=True
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context_for())
    assert isinstance(deferred.value.trigger, RayDashboardJobTrigger)
    with pytest.raises(RayJobFailedError):
        sensor.execute_complete(context_for(), {"submission_id": "s", "outcome": "failed", "status": "FAILED"})


def test_default_deferrable_comes_from_airflow_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert KubeRaySubmitJobOperator(task_id="a", entrypoint="x").deferrable is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert KubeRaySubmitJobOperator(task_id="b", entrypoint="x").deferrable is False
