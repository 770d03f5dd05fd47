"""
The OpenLineage parent run handed to a Ray job in its ``runtime_env.env_vars``, so lineage emitted
inside Ray (an OpenLineage client, ``dbt-ol``, Spark on Ray...) nests under the Airflow task's run.

The variables follow OpenLineage's conventions: ``OPENLINEAGE_PARENT_ID`` and
``OPENLINEAGE_ROOT_PARENT_ID`` as ``<namespace>/<job name>/<run id>``, and ``OPENLINEAGE_CONTEXT``
as JSON (``{"parent": {"run": {"runId"}, "job": {"namespace", "name"}, "root": {...}}}``). They are
set only when the OpenLineage provider is installed and enabled, and never over the user's own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

PARENT_ID = "OPENLINEAGE_PARENT_ID"
ROOT_PARENT_ID = "OPENLINEAGE_ROOT_PARENT_ID"
CONTEXT = "OPENLINEAGE_CONTEXT"
PARENT_VARIABLES = (PARENT_ID, ROOT_PARENT_ID, CONTEXT)


@dataclass(frozen=True)
class ParentRun:
    """The Airflow task's OpenLineage run (the parent) and its DAG run's (the root)."""

    namespace: str
    job_name: str
    run_id: str
    root_namespace: str
    root_job_name: str
    root_run_id: str

    def env_vars(self) -> dict[str, str]:
        """The parent run as OpenLineage's environment variables."""
        context = {
            "parent": {
                "run": {"runId": self.run_id},
                "job": {"namespace": self.namespace, "name": self.job_name},
                "root": {
                    "run": {"runId": self.root_run_id},
                    "job": {"namespace": self.root_namespace, "name": self.root_job_name},
                },
            }
        }
        return {
            PARENT_ID: f"{self.namespace}/{self.job_name}/{self.run_id}",
            ROOT_PARENT_ID: f"{self.root_namespace}/{self.root_job_name}/{self.root_run_id}",
            CONTEXT: json.dumps(context, separators=(",", ":")),
        }


def with_parent_env(runtime_env: Mapping[str, Any], parent: ParentRun | None) -> dict[str, Any]:
    """
    ``runtime_env`` with the parent run in its ``env_vars``. A user who set any of the parent
    variables chose the parent: then none is added, so the three never disagree.
    """
    env = dict(runtime_env)
    if parent is None:
        return env
    user_vars = env.get("env_vars") or {}
    if any(name in user_vars for name in PARENT_VARIABLES):
        return env
    env["env_vars"] = {**user_vars, **parent.env_vars()}
    return env


def parent_run(ti: Any) -> ParentRun | None:
    """
    The OpenLineage run of the task instance ``ti`` as the provider's listener reports it (the
    provider's own macros), or ``None`` when the OpenLineage provider is missing, disabled, or fails.
    """
    try:
        from airflow.providers.openlineage.conf import is_disabled
        from airflow.providers.openlineage.plugins.listener import get_openlineage_listener
        from airflow.providers.openlineage.plugins.macros import (
            lineage_job_name,
            lineage_job_namespace,
            lineage_root_job_name,
            lineage_root_job_namespace,
            lineage_root_run_id,
            lineage_run_id,
        )
    except ImportError:  # the openlineage extra is not installed, or too old
        return None
    try:
        if is_disabled() or not get_openlineage_listener():
            return None
        return ParentRun(
            namespace=lineage_job_namespace(),
            job_name=lineage_job_name(ti),
            run_id=lineage_run_id(ti),
            root_namespace=lineage_root_job_namespace(ti),
            root_job_name=lineage_root_job_name(ti),
            root_run_id=lineage_root_run_id(ti),
        )
    except Exception as err:  # lineage never fails a task
        log.warning("Could not read the OpenLineage parent run, the Ray job gets none: %s", err)
        return None


def with_task_parent(runtime_env: Mapping[str, Any], ti: Any) -> dict[str, Any]:
    """``runtime_env`` with the parent run of the task instance ``ti``, when OpenLineage is on."""
    return with_parent_env(runtime_env, parent_run(ti))
