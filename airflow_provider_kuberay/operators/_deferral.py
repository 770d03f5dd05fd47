"""Small helpers shared by the operators and sensors for deferring."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def default_deferrable(value: bool | None) -> bool:
    """An explicit choice, else ``[operators] default_deferrable`` read when the task is built."""
    if value is not None:
        return value
    from airflow.providers.common.compat.sdk import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


def deadline_from(start: datetime | None, timeout: timedelta | None) -> float | None:
    """
    The Unix time at which a deferred wait must give up, from the task's start and timeout.

    Airflow does not apply ``execution_timeout`` to the time spent deferred, so the trigger does.
    """
    if timeout is None:
        return None
    begin = start.timestamp() if start is not None else datetime.now().timestamp()
    return begin + timeout.total_seconds()


def check_positive(name: str, value: Any, *, allow_zero: bool = False, integer: bool = False) -> None:
    """Reject a bad number with an error naming the parameter."""
    if value is None:
        return
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ValueError(f"{name} must be a{'n integer' if integer else ' number'}, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


# A deferred wait gives up this long after the task's own deadline at the latest, should the
# trigger itself fail to report (the trigger's deadline normally fires first).
DEFER_GRACE = timedelta(minutes=5)


def wait_with(operator: Any, trigger: Any) -> dict[str, Any]:
    """
    Wait for the trigger's event: deferred when the operator is deferrable (this raises, and
    ``execute_complete`` gets the event), else in the worker with the very same trigger.
    """
    if operator.deferrable:
        timeout = operator.execution_timeout + DEFER_GRACE if operator.execution_timeout else None
        operator.defer(trigger=trigger, method_name="execute_complete", timeout=timeout)
    return run_trigger_in_worker(trigger)


def run_trigger_in_worker(trigger: Any) -> dict[str, Any]:
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
            await events.aclose()
        return dict(event.payload)

    return asyncio.run(first_event())
