"""
A worker process for the crash tests: runs the first try of one task (``restart_support.crash_operator``)
until the test SIGKILLs it.

    python tests/k8s/worker_child.py KIND TASK_ID RUN_ID

The ``kuberay_default`` connection and the Airflow home come from the environment.
"""

from __future__ import annotations

import sys

from restart_support import crash_operator

from tests.support.airflow_context import context_for


def main(kind: str, task_id: str, run_id: str) -> None:
    from k8s_support import task_instance

    crash_operator(kind, task_id).execute(context_for(task_instance(task_id, try_number=1, run_id=run_id)))


if __name__ == "__main__":
    main(*sys.argv[1:4])
