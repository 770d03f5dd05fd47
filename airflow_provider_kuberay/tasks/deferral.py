"""Waiting for a trigger's event: deferred to the triggerer, or in the worker with the very same trigger."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from airflow_provider_kuberay.tasks.clearing import record_deferred_try

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

# A deferred wait gives up this long after the task's own deadline at the latest, should the
# trigger itself fail to report (the trigger's deadline normally fires first).
DEFER_GRACE = timedelta(minutes=5)
# How Airflow resumes a task only to fail it: ``next_method`` and the ``error`` of a deferral whose
# timeout passed before its trigger fired (the values of Airflow's TRIGGER_FAIL_REPR and
# TriggerFailureReason.TRIGGER_TIMEOUT, spelled out so the worker needs no core import).
TRIGGER_FAIL_METHOD = "__fail__"
TRIGGER_TIMEOUT_ERROR = "Trigger timeout"
# How much earlier than ``execution_timeout`` a wait in the worker gives up (at most a quarter of it).
IN_WORKER_MARGIN = timedelta(seconds=5)


class DeferringTask(Protocol):
    """What :func:`wait_with` needs of an operator (every ``BaseOperator`` with a ``deferrable`` flag)."""

    deferrable: bool
    execution_timeout: timedelta | None

    def defer(
        self,
        *,
        trigger: BaseTrigger,
        method_name: str,
        kwargs: dict[str, Any] | None = None,
        timeout: timedelta | int | float | None = None,
    ) -> NoReturn: ...


def default_deferrable(value: bool | None) -> bool:
    """An explicit choice, else ``[operators] default_deferrable`` read when the task is built."""
    if value is not None:
        return value
    from airflow.providers.common.compat.sdk import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


def wait_deadline(operator: DeferringTask, start: datetime | None) -> float | None:
    """
    The Unix time at which the operator's wait for its trigger must give up, from the task's start
    and ``execution_timeout``.

    Airflow does not apply ``execution_timeout`` to the time spent deferred, so the trigger does. In
    the worker, Airflow's alarm (SIGALRM) would end the wait at the same instant: its handler logs,
    and should it land while a log line is being written, the worker deadlocks on the log's lock.
    So the wait in the worker gives up ``IN_WORKER_MARGIN`` earlier, and the task ends with its own
    message and clean-up before the alarm.
    """
    timeout = operator.execution_timeout
    if timeout is None:
        return None
    if not operator.deferrable:
        timeout -= min(IN_WORKER_MARGIN, timeout / 4)
    begin = start.timestamp() if start is not None else datetime.now().timestamp()
    return begin + timeout.total_seconds()


def wait_with(operator: DeferringTask, trigger: BaseTrigger, context: Context) -> dict[str, Any]:
    """
    Wait for the trigger's event: deferred when the operator is deferrable (this raises, and
    ``execute_complete`` gets the event), else in the worker with the very same trigger.
    """
    if operator.deferrable:
        if getattr(trigger, "cancel_on_kill", False):
            record_deferred_try(context["ti"])  # what the trigger's on_kill checks the task's try against
        timeout = operator.execution_timeout + DEFER_GRACE if operator.execution_timeout else None
        operator.defer(trigger=trigger, method_name="execute_complete", timeout=timeout)
    return run_trigger_in_worker(trigger)


def run_trigger_in_worker(trigger: BaseTrigger) -> dict[str, Any]:
    """
    Run a trigger to its first event on a private event loop, so both modes behave the same
    (same checks, same log streaming, same events).
    """
    import asyncio

    async def first_event() -> dict[str, Any]:
        events = trigger.run()
        try:
            event = await events.__anext__()
        finally:
            await events.aclose()  # type: ignore[attr-defined]
        return dict(event.payload)

    return asyncio.run(first_event())


def deferral_timed_out(next_method: str, next_kwargs: dict[str, Any] | None) -> bool:
    """
    Whether Airflow resumes the task only to fail it with ``TaskDeferralTimeout`` (the deferral
    outlived its timeout). Neither ``execute_complete`` nor ``on_kill`` runs then, so the operator
    must clean up before Airflow raises.
    """
    # ``==``, not ``str()``: Airflow passes a str-valued enum member, or its value after a round trip.
    return next_method == TRIGGER_FAIL_METHOD and (next_kwargs or {}).get("error") == TRIGGER_TIMEOUT_ERROR


def fail_deferral_timeout(resume: Callable[[], object], explanation: str) -> NoReturn:
    """
    Let Airflow fail the timed-out deferral (``resume`` calls ``BaseOperator.resume_execution``), with
    ``explanation`` (what timed out, what the task cleaned up) as the message instead of Airflow's bare
    reason. The exception keeps Airflow's type, so states and retries behave as usual.
    """
    try:
        resume()
    except Exception as err:
        raise type(err)(explanation) from err
    raise RuntimeError("Airflow resumed a timed-out deferral without failing it")
