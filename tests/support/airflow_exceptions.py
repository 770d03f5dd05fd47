"""
The task exceptions the tests catch, from where the installed Airflow defines them: ``airflow.sdk.exceptions``
since Airflow 3.2, ``airflow.exceptions`` before (where 3.2+ keeps only deprecated aliases).
"""

from __future__ import annotations

try:
    from airflow.sdk.exceptions import AirflowSkipException, AirflowTaskTimeout, TaskDeferralTimeout, TaskDeferred
except ImportError:  # Airflow < 3.2
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowSkipException,
        AirflowTaskTimeout,
        TaskDeferralTimeout,
        TaskDeferred,
    )

__all__ = ["AirflowSkipException", "AirflowTaskTimeout", "TaskDeferralTimeout", "TaskDeferred"]
