"""Deterministic ids for what a task creates, so a retry or a restarted worker finds it again."""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_MAX_SUBMISSION_ID = 96
_SAFE_SUBMISSION_ID = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")


def task_key_hash(dag_id: str, task_id: str, run_id: str, map_index: int = -1, length: int = 10) -> str:
    """A short hash of one task instance's identity (try number excluded on purpose)."""
    identity = "\x1f".join((dag_id, task_id, run_id, str(map_index)))
    return hashlib.sha256(identity.encode()).hexdigest()[:length]


def submission_id_for(dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> str:
    """
    The Ray Jobs submission id of a task instance: readable, unique per task instance, stable
    across its tries.
    """
    suffix = task_key_hash(dag_id, task_id, run_id, map_index)
    readable = _UNSAFE.sub("-", f"{dag_id}.{task_id}" + (f".{map_index}" if map_index >= 0 else ""))
    head = f"airflow-{readable}"[: _MAX_SUBMISSION_ID - len(suffix) - 1].rstrip("-.")
    return f"{head}-{suffix}"


def check_submission_id(value: str, field: str = "submission_id") -> str:
    """Reject a user-given submission id that Ray's URLs and logs would mangle."""
    if not isinstance(value, str) or not _SAFE_SUBMISSION_ID.match(value):
        raise ValueError(f"{field} must be 1-256 characters of letters, digits, '_', '.' or '-', got {value!r}")
    return value
