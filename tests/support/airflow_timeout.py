"""
Run an operator's ``execute`` the way Airflow's task runner does: under the task's ``execution_timeout``
alarm, calling ``on_kill`` when the alarm fires. Airflow 3.3 has a function for exactly that; before,
the same steps sat inline in the runner's ``_execute_task``.
"""

from __future__ import annotations

from typing import Any


def run_execute_with_timeout(context: Any, operator: Any) -> Any:
    """Run ``operator.execute(context)`` under its ``execution_timeout``; ``on_kill`` when it expires."""
    try:
        from airflow.sdk.execution_time.task_runner import _run_execute_callable  # Airflow >= 3.3
    except ImportError:
        return _run_with_inline_timeout(context, operator)
    return _run_execute_callable(context, operator.execute, operator)


def _run_with_inline_timeout(context: Any, operator: Any) -> Any:
    from airflow.sdk.execution_time.timeout import timeout

    from tests.support.airflow_exceptions import AirflowTaskTimeout

    try:
        with timeout(operator.execution_timeout.total_seconds()):
            return operator.execute(context=context)
    except AirflowTaskTimeout:
        operator.on_kill()
        raise
