"""Why Kueue holds a job, as its Workload tells."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_kuberay.status.verdict import conditions, status_of

# The Workload conditions that say why a job waits, most telling first, with the status that says it:
# evicted (preempted, ...), no quota reserved (insufficient quota, inadmissible), not admitted (admission checks).
_HOLDING = (("Evicted", True), ("QuotaReserved", False), ("Admitted", False))


def workload_hold(workloads: Iterable[Mapping[str, Any]]) -> str:
    """
    Kueue's reason and message for holding a job, ``"<reason>: <message>"``, or "" when the job's
    Workloads say nothing yet (none created, or no verdict of Kueue's on them).

    :param workloads: the job's Workloads.
    """
    for workload in workloads:
        found = conditions(status_of(workload))
        for kind, holding in _HOLDING:
            condition = found.get(kind)
            if condition is not None and condition.status is holding and (condition.reason or condition.message):
                return ": ".join(part for part in (condition.reason, condition.message) if part)
    return ""
