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
