"""Deterministic submission ids and the Jobs API verdicts."""

from __future__ import annotations

import pytest

from airflow_provider_kuberay.log_lines import LineForwarder, last_lines
from airflow_provider_kuberay.status.jobs_api import RayJobStatus, judge_job
from airflow_provider_kuberay.tasks.failure import failure_text
from airflow_provider_kuberay.tasks.identity import check_submission_id, submission_id_for
from airflow_provider_kuberay.triggers.events import JobsApiEvent, Outcome


def test_submission_ids_are_stable_and_distinct() -> None:
    first = submission_id_for("dag", "task", "run1")
    assert first == submission_id_for("dag", "task", "run1")  # a retry finds its job
    others = {
        submission_id_for("dag", "task", "run2"),
        submission_id_for("dag", "task", "run1", 0),
        submission_id_for("dag", "task", "run1", 1),
        submission_id_for("dag", "task2", "run1"),
    }
    assert first not in others
    assert len(others) == 4
    assert first.startswith("airflow-dag.task-")


def test_long_and_odd_names_stay_valid() -> None:
    value = submission_id_for("d" * 300, "t/ä k", "manual__2026-01-01T00:00:00+00:00", 7)
    assert len(value) <= 96
    assert check_submission_id(value) == value


@pytest.mark.parametrize("bad", ["", "has space", "a/b", "x" * 257])
def test_user_submission_ids_are_checked(bad: str) -> None:
    with pytest.raises(ValueError, match="submission_id"):
        check_submission_id(bad)


@pytest.mark.parametrize(
    ("status", "terminal", "succeeded"),
    [
        ("PENDING", False, False),
        ("RUNNING", False, False),
        ("SUCCEEDED", True, True),
        ("FAILED", True, False),
        ("STOPPED", True, False),  # stopped is not success
        ("succeeded", True, True),
    ],
)
def test_verdicts(status: str, terminal: bool, succeeded: bool) -> None:
    verdict = judge_job({"status": status, "message": "m"})
    assert verdict.terminal is terminal
    assert verdict.succeeded is succeeded
    if terminal:
        assert JobsApiEvent.ended("s1", verdict).outcome is (Outcome.SUCCEEDED if succeeded else Outcome.FAILED)


def test_unknown_status_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="unknown status"):
        judge_job({"status": "EXPLODED"})


def test_failure_message_has_status_message_error_type_and_log_tail() -> None:
    verdict = judge_job({"status": "FAILED", "message": "exit code 3", "error_type": "JOB_ENTRYPOINT_COMMAND_ERROR"})
    event = JobsApiEvent.ended("s1", verdict, log_tail="line a\nline b")
    assert verdict.status is RayJobStatus.FAILED
    text = failure_text(event)
    assert "'s1' ended with status FAILED: exit code 3" in text
    assert "JOB_ENTRYPOINT_COMMAND_ERROR" in text
    assert text.endswith("line a\nline b")
    timeout = failure_text(JobsApiEvent(submission_id="s1", outcome=Outcome.TIMEOUT, message="late"))
    assert "did not finish before the task's deadline: late" in timeout


def test_lines_are_forwarded_whole_across_chunks() -> None:
    lines: list[str] = []
    forwarder = LineForwarder(lines.append)
    for chunk in ["hel", "lo\nwor", "ld\r\n", "\nlast"]:
        forwarder.feed(chunk)
    assert lines == ["hello", "world", ""]
    forwarder.flush()
    assert lines[-1] == "last"
    assert forwarder.lines_forwarded == 4
    assert last_lines("a\n\nb\nc\n", 2) == "b\nc"
    assert last_lines("a", 0) == ""
