"""
Killing and clearing a deferred Jobs API task, with the Ray dashboard faked at the HTTP boundary:
the trigger's ``on_kill`` (Airflow 3.3+) stops only the job its task submitted; a cleared task runs a
new job under a new submission id only with ``reattach_on_clear=False``.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any, cast

import pytest

from airflow_provider_kuberay.log_lines import LineForwarder
from airflow_provider_kuberay.operators import KubeRayRunJobOperator, KubeRaySubmitJobOperator
from airflow_provider_kuberay.tasks.clearing import DEFERRED_TRY_XCOM_KEY
from airflow_provider_kuberay.tasks.identity import TASK_KEY_METADATA, TaskIdentity, first_try_since_clear
from airflow_provider_kuberay.triggers import RayDashboardJobTrigger
from tests.support.airflow_context import FakeTaskInstance
from tests.support.airflow_exceptions import TaskDeferred
from tests.support.fake_dashboard import FakeDashboard
from tests.support.user_kill import kill_as_a_user_would


class FakeTask:
    retries = 2


def _context(ti: FakeTaskInstance) -> Any:
    return cast(Any, {"ti": ti, "task": FakeTask()})


def _deferred(fake: FakeDashboard, ti: FakeTaskInstance, **kwargs: Any) -> RayDashboardJobTrigger:
    op = KubeRaySubmitJobOperator(
        task_id="task",
        entrypoint="python a.py",
        deferrable=True,
        dashboard_url=fake.url,
        ray_dashboard_conn_id=None,
        **kwargs,
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(_context(ti))
    trigger = deferred.value.trigger
    assert isinstance(trigger, RayDashboardJobTrigger)
    return trigger


def test_killed_trigger_stops_the_job_its_task_submitted(fake_dashboard: FakeDashboard) -> None:
    ti = FakeTaskInstance()
    trigger = _deferred(fake_dashboard, ti)
    job = fake_dashboard.jobs[trigger.submission_id]
    assert job.metadata[TASK_KEY_METADATA] == TaskIdentity.from_context(_context(ti)).key
    job.status = "RUNNING"
    kill_as_a_user_would(trigger)
    assert job.status == "STOPPED"


def test_cancel_on_kill_false_leaves_the_job_running(fake_dashboard: FakeDashboard) -> None:
    trigger = _deferred(fake_dashboard, FakeTaskInstance(), cancel_on_kill=False)
    assert "cancel_on_kill" not in trigger.serialize()[1]
    fake_dashboard.jobs[trigger.submission_id].status = "RUNNING"
    kill_as_a_user_would(trigger)
    assert fake_dashboard.jobs[trigger.submission_id].status == "RUNNING"
    assert [path for path in fake_dashboard.calls("POST") if path.endswith("/stop")] == []


def test_killed_trigger_never_stops_a_job_its_task_did_not_submit(fake_dashboard: FakeDashboard) -> None:
    theirs = fake_dashboard.add_job("theirs", status="RUNNING", metadata={TASK_KEY_METADATA: "another"})
    unmarked = fake_dashboard.add_job("unmarked", status="RUNNING")
    for job in (theirs, unmarked):
        trigger = RayDashboardJobTrigger(
            submission_id=job.submission_id, dashboard_url=fake_dashboard.url, cancel_on_kill=True, owner_key="mine"
        )
        kill_as_a_user_would(trigger)
    assert (theirs.status, unmarked.status) == ("RUNNING", "RUNNING")
    assert [path for path in fake_dashboard.calls("POST") if path.endswith("/stop")] == []


def _airflow_sees(monkeypatch: pytest.MonkeyPatch, ti: FakeTaskInstance, state: str | None, deferred_try: Any) -> None:
    """What the triggerer's supervisor answers about ``ti``: its state, and its recorded deferred try."""
    from airflow.providers.common.compat.sdk import XCom
    from airflow.sdk.execution_time import task_runner

    class Comms:
        async def asend(self, message: Any) -> Any:
            return SimpleNamespace(task_states={ti.run_id: {ti.task_id: state}})

    async def get_one(*, key: str, **where: Any) -> Any:
        return deferred_try if key == DEFERRED_TRY_XCOM_KEY else None

    async def set_xcom(**kwargs: Any) -> None:
        return None

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", Comms(), raising=False)
    if _reads_xcoms_async():
        monkeypatch.setattr(XCom, "aget_one", get_one)
        monkeypatch.setattr(XCom, "aset", set_xcom)


def _reads_xcoms_async() -> bool:
    """Whether this Airflow's XCom has the async read the trigger's on_kill uses (3.3+, with on_kill itself)."""
    from airflow.providers.common.compat.sdk import XCom

    return hasattr(XCom, "aget_one")


@pytest.mark.parametrize(
    ("state", "deferred_try", "stopped"),
    [
        # The trigger was moved to another triggerer: the same try still waits, on the trigger's new copy.
        ("deferred", 1, False),
        # Cleared, and the next try deferred again before this triggerer noticed the clear.
        ("deferred", 2, True),
        # Cleared, and the next try is running (Airflow deleted the first try's XComs).
        ("deferred", None, True),
        ("running", None, True),
        # Marked failed.
        ("failed", 1, True),
    ],
)
def test_on_kill_tells_a_users_action_from_a_trigger_moved_to_another_triggerer(
    fake_dashboard: FakeDashboard, monkeypatch: pytest.MonkeyPatch, state: str, deferred_try: Any, stopped: bool
) -> None:
    ti = FakeTaskInstance()
    trigger = _deferred(fake_dashboard, ti)
    assert ti.xcoms[DEFERRED_TRY_XCOM_KEY] == 1
    job = fake_dashboard.jobs[trigger.submission_id]
    job.status = "RUNNING"
    _airflow_sees(monkeypatch, ti, state, deferred_try)
    if not _reads_xcoms_async():
        # Before Airflow 3.3 nothing calls a trigger's on_kill; called anyway, it cannot read the try and
        # takes the call for a user's action, as Airflow says it is.
        stopped = True
    kill_as_a_user_would(trigger, task_instance=ti)
    assert job.status == ("STOPPED" if stopped else "RUNNING")


def test_a_task_that_may_not_stop_its_job_records_no_try(fake_dashboard: FakeDashboard) -> None:
    ti = FakeTaskInstance()
    _deferred(fake_dashboard, ti, cancel_on_kill=False)
    assert DEFERRED_TRY_XCOM_KEY not in ti.xcoms


def test_first_try_since_clear_follows_airflows_max_tries() -> None:
    # retries=2: tries 1-3 belong to the first run; cleared after try 2, Airflow sets max_tries = 2 + 2.
    assert [first_try_since_clear(n, 2, 2) for n in (1, 2, 3)] == [1, 1, 1]
    assert [first_try_since_clear(n, 4, 2) for n in (3, 4, 5)] == [3, 3, 3]
    assert first_try_since_clear(2, None, 2) == 1  # unknown: the first run's identity


def test_a_cleared_task_reattaches_by_default_and_runs_anew_with_reattach_on_clear_false(
    fake_dashboard: FakeDashboard,
) -> None:
    first = _deferred(fake_dashboard, FakeTaskInstance(try_number=1, max_tries=2)).submission_id
    # Cleared after try 1 (max_tries = 1 + retries): try 2 follows the same submission id by default...
    assert _deferred(fake_dashboard, FakeTaskInstance(try_number=2, max_tries=3)).submission_id == first
    # ...and with reattach_on_clear=False gets a new one, which its own retry (try 3) adopts.
    no_reattach = {"reattach_on_clear": False}
    assert _deferred(fake_dashboard, FakeTaskInstance(try_number=1, max_tries=2), **no_reattach).submission_id == first
    cleared = _deferred(fake_dashboard, FakeTaskInstance(try_number=2, max_tries=3), **no_reattach).submission_id
    assert cleared != first
    assert ".try2-" in cleared
    retried = _deferred(fake_dashboard, FakeTaskInstance(try_number=3, max_tries=3), **no_reattach).submission_id
    assert retried == cleared
    assert set(fake_dashboard.jobs) == {first, cleared}


def test_reattach_on_clear_false_refuses_an_explicit_name() -> None:
    with pytest.raises(ValueError, match="submission_id"):
        KubeRaySubmitJobOperator(task_id="t", entrypoint="x", submission_id="fixed", reattach_on_clear=False)
    with pytest.raises(ValueError, match="name"):
        KubeRayRunJobOperator(task_id="t", entrypoint="x", cluster_name="c", name="fixed", reattach_on_clear=False)


def test_a_resumed_forwarder_repeats_no_line_and_reports_its_position() -> None:
    log = "line 1\nline 2\nline 3\nline 4\n"
    lines: list[str] = []
    positions: list[int] = []
    forwarder = LineForwarder(lines.append, positions.append)
    already = len("line 1\nline 2\n")  # what the task log held when the first triggerer died
    forwarder.resume_at(already)
    forwarder.feed(log[forwarder.chars_fed : forwarder.chars_fed + 10])  # "line 3\nlin"
    assert (lines, forwarder.chars_forwarded) == (["line 3"], len("line 1\nline 2\nline 3\n"))
    forwarder.feed(log[forwarder.chars_fed :])
    assert lines == ["line 3", "line 4"]
    assert positions == [len("line 1\nline 2\nline 3\n"), len(log)]


def test_a_cleared_try_waits_for_the_clears_stop_and_submits_the_job_again(fake_dashboard: FakeDashboard) -> None:
    first = _deferred(fake_dashboard, FakeTaskInstance(try_number=1, max_tries=2)).submission_id
    job = fake_dashboard.jobs[first]
    job.status = "RUNNING"

    def stopped_by_the_clears_on_kill() -> None:
        job.status = "STOPPED"

    # Cleared after try 1 (max_tries = 1 + retries): the clear's on_kill stops the job just after try 2 starts.
    threading.Timer(1.0, stopped_by_the_clears_on_kill).start()
    _deferred(fake_dashboard, FakeTaskInstance(try_number=2, max_tries=3))
    resubmitted = fake_dashboard.jobs[first]
    assert resubmitted is not job
    assert resubmitted.metadata["airflow_try_number"] == "2"


def test_a_retry_adopts_the_running_job_at_once(fake_dashboard: FakeDashboard) -> None:
    first = _deferred(fake_dashboard, FakeTaskInstance(try_number=1, max_tries=2)).submission_id
    job = fake_dashboard.jobs[first]
    job.status = "RUNNING"
    started = time.monotonic()
    _deferred(fake_dashboard, FakeTaskInstance(try_number=2, max_tries=2))  # a retry, not a clear
    assert time.monotonic() - started < 5
    assert fake_dashboard.jobs[first] is job
