"""A minimal task-instance stand-in for calling operators' execute() in the unit tier."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, cast

import pytest

if TYPE_CHECKING:
    from airflow.sdk import Context


@dataclass
class FakeTaskInstance:
    dag_id: str = "dag"
    task_id: str = "task"
    run_id: str = "manual__2026-01-01T00:00:00+00:00"
    map_index: int = -1
    try_number: int = 1
    # What Airflow sets to try_number + retries when it clears the task instance (None: not known).
    max_tries: int | None = None
    start_date: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def context_for(ti: FakeTaskInstance | None = None) -> Context:
    """An execution context holding only ``ti``: the fake stands in for Airflow's task instance."""
    return cast("Context", {"ti": ti or FakeTaskInstance()})


# For a test that runs Airflow's execution_timeout: its alarm takes SIGALRM over from pytest-timeout's
# signal method for the rest of the test, so a hang there would go unbounded. A watchdog thread
# bounds it instead (it ends the run with every thread's stack).
UNDER_AIRFLOWS_ALARM = pytest.mark.timeout(300, method="thread")
