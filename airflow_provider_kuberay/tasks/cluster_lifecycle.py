"""
What a RayCluster carries so later runs can reuse it and a clean-up task can expire it: a hash of its
spec (a label), the DAG run that last used it and an expiry time (annotations). Pure: no API calls.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_kuberay.tasks.identity import MANAGED_BY

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
SPEC_HASH_LABEL = "kuberay.airflow.apache.org/spec-hash"
EXPIRES_AT_ANNOTATION = "kuberay.airflow.apache.org/expires-at"
DAG_ID_ANNOTATION = "kuberay.airflow.apache.org/dag-id"
RUN_ID_ANNOTATION = "kuberay.airflow.apache.org/run-id"

# The values of ``if_exists`` (named like BigQuery's ``if_exists`` and pandas' ``to_sql(if_exists=...)``).
IF_EXISTS_CHOICES = ("fail", "reuse", "replace")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def check_if_exists(value: object) -> str:
    """The ``if_exists`` parameter, checked before any API call."""
    if value not in IF_EXISTS_CHOICES:
        allowed = ", ".join(repr(choice) for choice in IF_EXISTS_CHOICES)
        raise ValueError(f"if_exists must be one of {allowed}, got {value!r}")
    return str(value)


def ttl_seconds(value: object, field: str = "cluster_ttl") -> float | None:
    """A time to live as seconds: a ``timedelta`` or a number of seconds > 0; ``None`` means no expiry."""
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        raise ValueError(f"{field} must be a timedelta or a number of seconds > 0, got {value!r}")
    return float(seconds)


def spec_hash(body: Mapping[str, Any]) -> str:
    """A label value naming the object's ``spec``: equal specs (key order aside) give equal hashes."""
    canonical = json.dumps(body.get("spec", {}), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def format_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime(_TIME_FORMAT)


def run_annotations(dag_id: str, run_id: str, ttl: float | None, now: datetime) -> dict[str, str]:
    """With a time to live: when the cluster expires and the DAG run that uses it (none without)."""
    if ttl is None:
        return {}
    expires = format_time(now + timedelta(seconds=ttl))
    return {DAG_ID_ANNOTATION: dag_id, RUN_ID_ANNOTATION: run_id, EXPIRES_AT_ANNOTATION: expires}


def stamped(body: dict[str, Any], annotations: Mapping[str, str]) -> dict[str, Any]:
    """The body with its spec-hash label and the run annotations added (a copy)."""
    metadata = dict(body.get("metadata", {}))
    metadata["labels"] = {**metadata.get("labels", {}), SPEC_HASH_LABEL: spec_hash(body)}
    metadata["annotations"] = {**metadata.get("annotations", {}), **annotations}
    return {**body, "metadata": metadata}


def provider_made(obj: Mapping[str, Any]) -> bool:
    """Whether this provider created the object (its managed-by label)."""
    return obj.get("metadata", {}).get("labels", {}).get(MANAGED_BY_LABEL) == MANAGED_BY


def expires_at(obj: Mapping[str, Any]) -> datetime | None:
    """
    The object's expiry, or ``None`` when it has none.

    :raises ValueError: the annotation is not a time this provider wrote.
    """
    text = obj.get("metadata", {}).get("annotations", {}).get(EXPIRES_AT_ANNOTATION)
    if not text:
        return None
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=timezone.utc)


def last_run(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """The DAG id and run id of the run that created or last reused the object, if recorded."""
    annotations = obj.get("metadata", {}).get("annotations", {})
    dag_id, run_id = annotations.get(DAG_ID_ANNOTATION), annotations.get(RUN_ID_ANNOTATION)
    return (dag_id, run_id) if dag_id and run_id else None
