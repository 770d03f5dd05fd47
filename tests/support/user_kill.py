"""What Airflow 3.3's triggerer does when a user kills a deferred task, for the unit tier."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow.triggers.base import BaseTrigger


def kill_as_a_user_would(trigger: BaseTrigger, running_for: float = 0.5, task_instance: Any = None) -> None:
    """
    Rebuild the trigger from its serialized kwargs (as the triggerer does), let it run, then cancel
    its ``run()`` and await its ``on_kill()``: the triggerer's path on mark failed / mark success / clear.

    :param task_instance: what the triggerer gives the trigger as its ``task_instance`` (none by default).
    """
    _, kwargs = trigger.serialize()
    rebuilt = type(trigger)(**kwargs)
    if task_instance is not None:
        rebuilt.task_instance = task_instance

    async def run_then_kill() -> None:
        waiting = asyncio.ensure_future(rebuilt.run().__anext__())
        await asyncio.sleep(running_for)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        await rebuilt.on_kill()

    asyncio.run(run_then_kill())
