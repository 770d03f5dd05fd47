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
