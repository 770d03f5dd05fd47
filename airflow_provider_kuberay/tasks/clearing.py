"""
What a user's clear means for a task instance's tries: the next try leaves the earlier try's work to the
clear's ``on_kill`` for a moment, and records its own try so that ``on_kill`` can tell the two tries apart.
"""

from __future__ import annotations

from typing import Any

# How long a cleared task waits for the clear's on_kill (the earlier try's trigger, in the triggerer)
# to stop or delete that try's work before it adopts it (without trigger on_kill, before Airflow 3.3).
CLEAR_KILL_WAIT = 15.0
# The XCom in which a deferring task records its try: Airflow deletes a task instance's XComs when a
# new try starts, so it names the try that the deferred task instance now waits for.
DEFERRED_TRY_XCOM_KEY = "kuberay_deferred_try"


def record_deferred_try(task_instance: Any) -> None:
    """Record, before the task defers, which try it is (read by the trigger's ``on_kill``)."""
    task_instance.xcom_push(key=DEFERRED_TRY_XCOM_KEY, value=int(task_instance.try_number))
