"""The OpenLineage facet methods of the operators (what the OpenLineage provider's listener calls)."""

from __future__ import annotations

import logging
from typing import Any

from airflow_provider_kuberay.lineage.run import RayRun, current_context

log = logging.getLogger(__name__)


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
