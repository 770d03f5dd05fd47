"""
What a trigger does when a user kills its deferred task (Airflow 3.3+ calls ``BaseTrigger.on_kill`` on
mark-failed, mark-success and clear): stop only the work that task itself started.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from airflow_provider_kuberay.tasks.clearing import DEFERRED_TRY_XCOM_KEY
from airflow_provider_kuberay.tasks.identity import carries_task_key

# Airflow bounds on_kill ([triggerer] on_kill_timeout, 30 s by default); finish well inside it.
ON_KILL_TIMEOUT = 20.0


def cancel_arguments(cancel_on_kill: bool, owner_key: str | None) -> dict[str, Any]:
    """
    The trigger kwargs that say what ``on_kill`` may stop, only when set: a trigger serialized by an
    earlier release (without them) rebuilds and serializes the same, and stops nothing.
    """
    return {"cancel_on_kill": True, "owner_key": owner_key} if cancel_on_kill and owner_key else {}


async def cancel_within(
    what: str, cancel: Callable[[], Awaitable[bool]], log: Any, task_instance: Any, timeout: float = ON_KILL_TIMEOUT
) -> bool:
    """
    Run ``cancel`` (which says whether it acted) in bounded time, telling the task log what happened;
    nothing when the task instance is still deferred (see :func:`still_deferred`).
    """
    if await still_deferred(task_instance):
        log.info("Trigger cancelled while its task is still deferred (moved to another triggerer): %s runs on", what)
        return False
    try:
        acted = await asyncio.wait_for(cancel(), timeout)
    except Exception as err:  # on_kill's trouble is only reported: the task's state is the user's decision
        log.warning("Task killed: could not stop %s: %s", what, err)
        return False
    if acted:
        log.info("Task killed: stopped %s, which this task started", what)
    else:
        log.info("Task killed: %s was left alone (gone, already ended, or not this task's)", what)
    return acted


def owned(obj: dict[str, Any] | None, owner_key: str | None) -> bool:
    """Whether a Kubernetes object carries the task key of the task that created it."""
    return obj is not None and owner_key is not None and carries_task_key(obj, owner_key)


async def still_deferred(task_instance: Any) -> bool:
    """
    Whether the trigger's own try is still deferred: then ``on_kill`` came from no user action.

    Airflow 3.3.2 cancels a trigger that was reassigned to another triggerer (its own triggerer's
    heartbeat was late, e.g. a blocked event loop on a loaded machine) by the same path as a user's
    action, and calls ``on_kill`` there too; measured in the deploy tier. The task instance, still
    deferred and in the same try (it waits on the trigger's new copy), tells the two apart.

    The state alone does not: a cleared task's next try may already have run and deferred again by
    the time this triggerer notices the clear (measured: 1.4 s after the clear, before the triggerer's
    next pass). Its try is in the XCom the deferring task recorded (``tasks/clearing.py``). When
    either cannot be read (no task instance, no Airflow support, a task deferred by an earlier
    release), the call counts as a user's action, as Airflow says it is.
    """
    if task_instance is None:
        return False
    try:
        from airflow.providers.common.compat.sdk import XCom
        from airflow.sdk.execution_time.comms import GetTaskStates
        from airflow.sdk.execution_time.task_runner import SUPERVISOR_COMMS

        ti = task_instance
        mapped = ti.map_index is not None and ti.map_index >= 0
        answer: Any = await SUPERVISOR_COMMS.asend(
            GetTaskStates(
                dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], map_index=ti.map_index if mapped else None
            )
        )
        state = answer.task_states.get(ti.run_id, {}).get(f"{ti.task_id}_{ti.map_index}" if mapped else ti.task_id)
        if getattr(state, "value", state) != "deferred":
            return False
        deferred_try = await XCom.aget_one(
            key=DEFERRED_TRY_XCOM_KEY, dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, map_index=ti.map_index
        )
    except Exception:
        return False
    return deferred_try == ti.try_number
