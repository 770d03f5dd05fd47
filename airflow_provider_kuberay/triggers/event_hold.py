"""
Hold a trigger's event until Airflow has seen its deferred task's process end.

When a task defers, its worker process exits, and the worker's supervisor notices the exit only at its
next wake-up: up to ``[workers] min_heartbeat_interval`` (5 s) later. If the trigger fires before the
scheduler has processed that exit, the task instance is already queued again for the same try, and
Airflow 3.3.2's scheduler takes the stale "success" of the exit for a task killed from outside: it
marks the resumed task failed (apache/airflow#67287; the running-state variant is #72716). Seen in the
deploy tier with a Ray job that ended 4 s after its task deferred.

So a trigger running under a real triggerer (it then has a ``task_instance``) sends no event sooner
than that interval plus a margin for one scheduler loop after it started. Only work that ends within
those seconds waits; ``dag.test()`` and triggers run directly by tests have no task instance and wait
for nothing.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

# One scheduler loop (about a second) to process the worker's exit, with room for a loaded machine.
SCHEDULER_MARGIN = 2.0
DEFAULT_HEARTBEAT_INTERVAL = 5.0


def hold_seconds() -> float:
    """How long after a trigger starts its event may first be sent."""
    from airflow.configuration import conf

    interval = conf.getfloat("workers", "min_heartbeat_interval", fallback=DEFAULT_HEARTBEAT_INTERVAL)
    return interval + SCHEDULER_MARGIN


class EventHold:
    """
    The earliest moment a trigger may send its event, fixed when the trigger starts running.

    :param task_instance: the trigger's ``task_instance`` (``None`` outside a real triggerer: no hold).
    """

    def __init__(self, task_instance: Any) -> None:
        self.seconds = hold_seconds() if task_instance is not None else 0.0
        self.until = time.monotonic() + self.seconds

    async def wait(self, log: Any) -> None:
        """Sleep out what is left of the hold; under a triggerer, the task log says which way it went."""
        if not self.seconds:
            return
        left = self.until - time.monotonic()
        if left <= 0:
            # One line either way, so a task log always shows that the hold applied.
            log.info("Sending the event: Airflow has had %.0fs to see this task's deferral end", self.seconds)
            return
        log.info("Sending the event in %.1fs, once Airflow has seen this task's deferral end", left)
        await asyncio.sleep(left)
