"""Verdicts on jobs of the Ray Jobs REST API (``/api/jobs/{id}``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any


class RayJobStatus(str, Enum):
    """Status values of a Ray job as reported by the Jobs API."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({RayJobStatus.STOPPED, RayJobStatus.SUCCEEDED, RayJobStatus.FAILED})


@dataclass(frozen=True)
class JobsApiVerdict:
    """
    What a job's details document means for the task following it.

    :param status: the job's status.
    :param message: Ray's message for the job (for failures: why it failed).
    :param error_type: Ray's error type for failures, if any.
    """

    status: RayJobStatus
    message: str = ""
    error_type: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def succeeded(self) -> bool:
        # Only SUCCEEDED is success: STOPPED is a job that did not finish its work.
        return self.status is RayJobStatus.SUCCEEDED


def judge_job(details: Mapping[str, Any]) -> JobsApiVerdict:
    """
    Interpret a Jobs API job details document.

    :param details: the JSON body of ``GET /api/jobs/{submission_id}``.
    :raises ValueError: when the document has no known ``status``.
    """
    raw = details.get("status")
    try:
        status = RayJobStatus(str(raw).upper())
    except ValueError:
        raise ValueError(f"Ray job details carry an unknown status {raw!r}") from None
    return JobsApiVerdict(
        status=status,
        message=str(details.get("message") or ""),
        error_type=details.get("error_type") or None,
    )


class JobOutcome(str, Enum):
    """How following a job ended, as carried by trigger events and sync waits alike."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the job ended FAILED or STOPPED
    TIMEOUT = "timeout"  # our deadline passed while the job was still running
    ERROR = "error"  # the job could not be followed (unknown job, dashboard unreachable)


def job_event(
    submission_id: str,
    outcome: JobOutcome,
    *,
    verdict: JobsApiVerdict | None = None,
    message: str = "",
    log_tail: str = "",
) -> dict[str, Any]:
    """The serializable result of following a job; everything the task needs to finish."""
    return {
        "submission_id": submission_id,
        "outcome": outcome.value,
        "status": verdict.status.value if verdict else None,
        "message": message or (verdict.message if verdict else ""),
        "error_type": verdict.error_type if verdict else None,
        "log_tail": log_tail,
    }


def outcome_for(verdict: JobsApiVerdict) -> JobOutcome:
    """The outcome of a terminal verdict."""
    return JobOutcome.SUCCEEDED if verdict.succeeded else JobOutcome.FAILED


def failure_message(event: Mapping[str, Any]) -> str:
    """A task failure message from a job event: Ray's status and message, then the log's last lines."""
    submission_id = event.get("submission_id")
    outcome = event.get("outcome")
    if outcome == JobOutcome.TIMEOUT.value:
        head = f"Ray job {submission_id!r} did not finish before the task's deadline"
    elif outcome == JobOutcome.ERROR.value:
        head = f"Ray job {submission_id!r} could not be followed"
    else:
        head = f"Ray job {submission_id!r} ended with status {event.get('status')}"
    parts = [head + (f": {event['message']}" if event.get("message") else "")]
    if event.get("error_type"):
        parts.append(f"Ray error type: {event['error_type']}")
    if event.get("log_tail"):
        parts.append("Last lines of the job log:\n" + str(event["log_tail"]))
    return "\n".join(parts)
