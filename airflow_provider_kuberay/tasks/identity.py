"""
Who a resource belongs to: the task instance as deterministic names, submission ids and labels,
so a retry or a restarted worker finds what it created instead of creating it twice.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context

MANAGED_BY = "airflow-provider-kuberay"
TASK_LABEL = "kuberay.airflow.apache.org/task-instance"
TRY_LABEL = "kuberay.airflow.apache.org/try-number"
# The Ray Jobs API metadata key that names the task instance which submitted a job (its ``key``).
TASK_KEY_METADATA = "airflow_task_key"

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_MAX_SUBMISSION_ID = 96
_SAFE_SUBMISSION_ID = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")


def task_key_hash(dag_id: str, task_id: str, run_id: str, map_index: int = -1, length: int = 10) -> str:
    """A short hash of one task instance's identity (try number excluded on purpose)."""
    identity = "\x1f".join((dag_id, task_id, run_id, str(map_index)))
    return hashlib.sha256(identity.encode()).hexdigest()[:length]


def submission_id_for(dag_id: str, task_id: str, run_id: str, map_index: int = -1, clearing: int = 0) -> str:
    """
    The Ray Jobs submission id of a task instance: readable, unique per task instance, stable
    across its tries (with ``clearing``, across the tries since the clearing that began at that try).
    """
    suffix = task_key_hash(dag_id, task_id, _scoped_run(run_id, clearing), map_index)
    readable = _UNSAFE.sub(
        "-",
        f"{dag_id}.{task_id}" + (f".{map_index}" if map_index >= 0 else "") + (f".try{clearing}" if clearing else ""),
    )
    head = f"airflow-{readable}"[: _MAX_SUBMISSION_ID - len(suffix) - 1].rstrip("-.")
    return f"{head}-{suffix}"


def check_submission_id(value: str, field: str = "submission_id") -> str:
    """Reject a user-given submission id that Ray's URLs and logs would mangle."""
    if not isinstance(value, str) or not _SAFE_SUBMISSION_ID.match(value):
        raise ValueError(f"{field} must be 1-256 characters of letters, digits, '_', '.' or '-', got {value!r}")
    return value


def _scoped_run(run_id: str, clearing: int) -> str:
    # What names and ids are derived from: the run, plus the clearing when each clearing runs anew.
    return f"{run_id}\x1fcleared-at-try-{clearing}" if clearing else run_id


def first_try_since_clear(try_number: int, max_tries: object, retries: object) -> int:
    """
    The try at which the task instance was last cleared (1 if never): Airflow sets ``max_tries`` to
    ``try_number + retries`` when it clears a task instance, so the tries since then are the last
    ``retries + 1`` up to ``max_tries`` (the formula Airflow's own reschedule lookup uses).
    """
    if not isinstance(max_tries, int) or not isinstance(retries, int) or max_tries < 0:
        return 1
    return max(1, min(try_number, max_tries - retries + 1))


def carries_task_key(obj: Mapping[str, Any], key: str) -> bool:
    """Whether a Kubernetes object is labelled as created by the task instance of ``key``."""
    return obj.get("metadata", {}).get("labels", {}).get(TASK_LABEL) == key


def _label_value(value: str) -> str:
    # Label values: at most 63 characters, alphanumerics and -_. inside.
    return _UNSAFE.sub("-", value)[:63].strip("-_.")


@dataclass(frozen=True)
class TaskIdentity:
    """
    The task instance a resource belongs to, as names and labels Kubernetes accepts.

    :param dag_id: the DAG.
    :param task_id: the task.
    :param run_id: the DAG run.
    :param map_index: the map index (-1 when not mapped).
    :param try_number: the try (1 for the first).
    :param first_try: the try at which the task instance was last cleared (1 if never).
    :param clearing: 0: every try of the task instance shares one job (a cleared task adopts it, the
        default); else the try at which the task was last cleared, which scopes the job's name and
        submission id: a cleared task runs a new job, which its later retries adopt.
    """

    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    try_number: int
    clearing: int = 0
    first_try: int = 1

    @property
    def starts_a_clearing(self) -> bool:
        """Whether a user cleared the task instance into this try (it is not the first try, nor a retry)."""
        return self.try_number > 1 and self.first_try == self.try_number

    @classmethod
    def from_context(cls, context: Context, *, reattach_on_clear: bool = True) -> TaskIdentity:
        """
        :param reattach_on_clear: ``False``: a task instance cleared after its first try gets a new
            job name and submission id (see ``clearing``).
        """
        ti = context["ti"]
        map_index = ti.map_index if ti.map_index is not None else -1
        try_number = int(ti.try_number or 1)
        task = context.get("task")
        first = first_try_since_clear(try_number, getattr(ti, "max_tries", None), getattr(task, "retries", 0) or 0)
        # The first run keeps the usual names; each later clearing gets its own without reattach_on_clear.
        clearing = first if first > 1 and not reattach_on_clear else 0
        return cls(ti.dag_id, ti.task_id, ti.run_id, map_index, try_number, clearing, first)

    @property
    def key(self) -> str:
        return task_key_hash(self.dag_id, self.task_id, self.run_id, self.map_index)

    @property
    def submission_id(self) -> str:
        """The Ray Jobs submission id of this task instance."""
        return submission_id_for(self.dag_id, self.task_id, self.run_id, self.map_index, self.clearing)

    def resource_name(self, kind: str, *, per_run: bool = True) -> str:
        """
        The DNS-1123 name of the ``kind`` object this task instance creates.

        :param per_run: one object per DAG run; ``False``: one per task (every run updates the same one).
        """
        from airflow_provider_kuberay.specs import resource_name

        run = _scoped_run(self.run_id, self.clearing) if per_run else ""
        return resource_name(self.dag_id, self.task_id, run, self.map_index, kind=kind)

    def labels(self) -> dict[str, str]:
        return {
            "app.kubernetes.io/managed-by": MANAGED_BY,
            "airflow.apache.org/dag-id": _label_value(self.dag_id),
            "airflow.apache.org/task-id": _label_value(self.task_id),
            TASK_LABEL: self.key,
            TRY_LABEL: str(self.try_number),
        }

    def owns(self, obj: Mapping[str, Any]) -> bool:
        return carries_task_key(obj, self.key)

    def created_in_earlier_try(self, obj: Mapping[str, Any]) -> bool:
        created_by = obj.get("metadata", {}).get("labels", {}).get(TRY_LABEL, "0")
        return int(created_by) < self.try_number if created_by.isdigit() else True
