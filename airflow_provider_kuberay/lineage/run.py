"""What a task's Ray work is, as the OpenLineage run facet reports it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context


@dataclass(frozen=True)
class RayRun:
    """
    The Ray work of one task, as far as it is known: before the run (what the task will create or
    submit) or after it (what it did). Empty fields are left out of the facet.

    :param submission_id: the Ray job's submission id (the Jobs API id; a RayJob's ``status.jobId``).
    :param ray_job: the RayJob's name.
    :param cluster: the RayCluster's name (for a RayService, the active one).
    :param namespace: the Kubernetes namespace.
    :param dashboard_url: the Ray dashboard the task talks to.
    :param service: the RayService's name.
    :param service_version: the RayService's ``metadata.generation`` the task deployed.
    :param status: the Ray job's final status, or the task's outcome.
    """

    submission_id: str | None = None
    ray_job: str | None = None
    cluster: str | None = None
    namespace: str | None = None
    dashboard_url: str | None = None
    service: str | None = None
    service_version: str | None = None
    status: str | None = None

    def updated(self, **fields: Any) -> RayRun:
        """A copy with the given fields set, empty values ignored (what is known stays known)."""
        known = {key: str(value) for key, value in fields.items() if value not in (None, "")}
        return dataclasses.replace(self, **known)

    def over(self, planned: RayRun) -> RayRun:
        """This run's fields, completed by ``planned`` where this one does not know them."""
        return planned.updated(**dataclasses.asdict(self))


def current_context() -> Context | None:
    """The running task's context, or ``None`` outside a task (the facet methods get none)."""
    try:
        from airflow.sdk import get_current_context

        return get_current_context()
    except Exception:
        return None
