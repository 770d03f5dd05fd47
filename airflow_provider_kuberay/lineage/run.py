"""What a task's Ray work is, as the OpenLineage run facet reports it, and the operators' side of the facet methods."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger(__name__)


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


class OpenLineageFacets:
    """
    ``get_openlineage_facets_on_start/complete/failure`` for an operator (the methods the OpenLineage
    provider's listener calls). The operator says what it will do (``lineage_plan``) and records what
    it did (``record_lineage``, in the same process as the listener's end event); without the
    OpenLineage provider nothing here runs and nothing is imported.
    """

    def lineage_plan(self) -> RayRun:
        """What the task's Ray work is before it runs (from its rendered parameters); overridden."""
        return RayRun()

    def record_lineage(self, **fields: Any) -> None:
        """Record what the task did for the end event (names as :class:`RayRun`'s fields)."""
        seen: RayRun = getattr(self, "_lineage_seen", None) or RayRun()
        self._lineage_seen = seen.updated(**fields)

    def _lineage_run(self) -> RayRun:
        seen: RayRun = getattr(self, "_lineage_seen", None) or RayRun()
        try:
            planned = self.lineage_plan()
        except Exception as err:  # lineage never fails a task
            log.debug("No OpenLineage plan for this task: %s", err)
            planned = RayRun()
        return seen.over(planned)

    def _operator_lineage(self, task_instance: Any = None) -> Any:
        try:
            from airflow_provider_kuberay.lineage.facets import operator_lineage
        except ImportError:  # the openlineage extra is not installed
            return None
        if task_instance is None:
            context = current_context()
            task_instance = context["ti"] if context is not None else None
        # Airflow 3.1 asks the task as parsed; what ran (rendered, and recorded) is the task instance's.
        ran = getattr(task_instance, "task", None)
        source = ran if isinstance(ran, OpenLineageFacets) else self
        return operator_lineage(source._lineage_run())

    def get_openlineage_facets_on_start(self) -> Any:
        """The OpenLineage facets of the task's start: what it will submit or create."""
        return self._operator_lineage()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The OpenLineage facets of the task's success: what it submitted or created."""
        return self._operator_lineage(task_instance)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """The OpenLineage facets of the task's failure: what it submitted or created so far."""
        return self._operator_lineage(task_instance)
