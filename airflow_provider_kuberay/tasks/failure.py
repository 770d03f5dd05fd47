"""How a task fails from a trigger event: one message format, one choice of error type."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from airflow_provider_kuberay.triggers.events import JobsApiEvent, Outcome, RayJobEvent, ServiceEvent

if TYPE_CHECKING:
    from airflow.exceptions import AirflowException

    from airflow_provider_kuberay.triggers.events import TriggerEvent


def _head(event: TriggerEvent) -> str:
    if isinstance(event, JobsApiEvent):
        if event.outcome is Outcome.TIMEOUT:
            return f"{event.subject} did not finish before the task's deadline"
        if event.outcome is Outcome.ERROR:
            return f"{event.subject} could not be followed"
        return f"{event.subject} ended with status {event.status}"
    if event.outcome is Outcome.TIMEOUT:
        head = f"{event.subject} timed out: it did not finish before the task's deadline"
    elif event.outcome is Outcome.ERROR:
        head = f"{event.subject} could not be followed"
    else:
        head = f"{event.subject} failed"
    return head + (f" ({event.reason})" if event.reason else "")


def failure_text(event: TriggerEvent) -> str:
    """
    The task failure message of an event that is not a success: what failed and why (the remote
    system's reason and message), then what helps to see why: statuses, the job log's last lines,
    the object's recent events, the applications' messages.
    """
    parts = [_head(event) + (f": {event.message}" if event.message else "")]
    if isinstance(event, RayJobEvent) and (event.job_status or event.job_deployment_status):
        parts.append(f"Ray job status: {event.job_status or '?'}, deployment: {event.job_deployment_status or '?'}")
    if isinstance(event, JobsApiEvent) and event.error_type:
        parts.append(f"Ray error type: {event.error_type}")
    if isinstance(event, JobsApiEvent | RayJobEvent) and event.log_tail:
        parts.append("Last lines of the job log:\n" + event.log_tail)
    if not isinstance(event, JobsApiEvent) and event.events:
        parts.append("Recent events:\n" + "\n".join(f"  {line}" for line in event.events))
    if isinstance(event, ServiceEvent) and event.app_messages:
        lines = [f"  {app}: {event.applications.get(app, '?')}: {text}" for app, text in event.app_messages.items()]
        parts.append("Applications:\n" + "\n".join(lines))
    return "\n".join(parts)


def failure_error(event: TriggerEvent, more: str = "") -> AirflowException:
    """
    The error that fails the task for an event that is not a success, its message
    :func:`failure_text` (and ``more``, e.g. what the task cleaned up).

    A job that did not succeed is a :class:`RayJobFailedError`, whatever stopped it. For a cluster or
    a service: a failure is a :class:`KubeRayResourceFailedError`, a deadline a
    :class:`KubeRayTimeoutError`, and an API that could not be read a :class:`KubeRayApiError`.
    """
    from airflow_provider_kuberay.exceptions import (
        KubeRayApiError,
        KubeRayResourceFailedError,
        KubeRayTimeoutError,
        RayJobFailedError,
    )

    text = failure_text(event) + (f"\n{more}" if more else "")
    if isinstance(event, JobsApiEvent | RayJobEvent):
        return RayJobFailedError(text)
    if event.outcome is Outcome.TIMEOUT:
        return KubeRayTimeoutError(text)
    if event.outcome is Outcome.ERROR:
        return KubeRayApiError(text)
    return KubeRayResourceFailedError(text)


def fail(error: AirflowException, *, soft_fail: bool = False) -> NoReturn:
    """Fail the task with ``error``; with ``soft_fail`` (sensors), skip it with the same message."""
    if soft_fail:
        # airflow.sdk.exceptions has no AirflowSkipException before Airflow 3.2; common.compat maps it.
        from airflow.providers.common.compat.sdk import AirflowSkipException

        raise AirflowSkipException(str(error))
    raise error
