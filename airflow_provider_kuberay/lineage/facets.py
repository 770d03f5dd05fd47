"""
The OpenLineage run facets of a task's Ray work. Imports OpenLineage at module level: import this
module only where the OpenLineage provider asked for facets.
"""

from __future__ import annotations

from attrs import define
from openlineage.client.facet_v2 import RunFacet, external_query_run

from airflow_provider_kuberay.lineage.run import RayRun

FACET_NAME = "kuberay"
# What an external-query facet names as the system the submission id belongs to.
EXTERNAL_QUERY_SOURCE = "ray"


@define
class KubeRayRunFacet(RunFacet):
    """
    The Ray work of an Airflow task: the Ray job (its submission id and, for a RayJob, the RayJob),
    the RayCluster, the namespace, the Ray dashboard, and for a RayService its name and the
    generation the task deployed. Fields the task does not have are ``None``.
    """

    submissionId: str | None = None
    rayJobName: str | None = None
    rayClusterName: str | None = None
    namespace: str | None = None
    dashboardUrl: str | None = None
    rayServiceName: str | None = None
    rayServiceVersion: str | None = None
    status: str | None = None

    @staticmethod
    def _get_schema() -> str:
        return "urn:airflow-provider-kuberay:facets:KubeRayRunFacet:1-0-0"


def kuberay_run_facet(run: RayRun) -> KubeRayRunFacet:
    return KubeRayRunFacet(
        submissionId=run.submission_id,
        rayJobName=run.ray_job,
        rayClusterName=run.cluster,
        namespace=run.namespace,
        dashboardUrl=run.dashboard_url,
        rayServiceName=run.service,
        rayServiceVersion=run.service_version,
        status=run.status,
    )


def operator_lineage(run: RayRun) -> object:
    """
    The ``OperatorLineage`` of a task's Ray work: the ``kuberay`` run facet, plus OpenLineage's own
    ``externalQuery`` facet (the Ray job's submission id) where there is a Ray job.
    """
    from airflow.providers.openlineage.extractors import OperatorLineage

    facets: dict[str, RunFacet] = {FACET_NAME: kuberay_run_facet(run)}
    if run.submission_id:
        facets["externalQuery"] = external_query_run.ExternalQueryRunFacet(
            externalQueryId=run.submission_id, source=EXTERNAL_QUERY_SOURCE
        )
    return OperatorLineage(run_facets=facets)
