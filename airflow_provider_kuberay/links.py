"""
Extra links from Airflow task pages to the Ray dashboard: the job, the cluster, Serve.

Each link is built from the task's ``dashboard_url`` XCom (which follows the connection's URL
template, or ``dashboard_link``, where one is set) and, for the job, ``submission_id``. Airflow
stores a link's value only when the task ends; :func:`publish_links` stores it as soon as the
operator knows it, so a running task already links to its job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

XCOM_DASHBOARD_URL = "dashboard_url"
XCOM_SUBMISSION_ID = "submission_id"


class _RayDashboardLink(BaseOperatorLink):
    """A page of the Ray dashboard named by the task's XComs."""

    name = ""
    needs_submission_id = False

    def url(self, dashboard_url: Any, submission_id: Any) -> str:
        """The link, or "" while what it needs is unknown."""
        if not dashboard_url or (self.needs_submission_id and not submission_id):
            return ""
        return f"{str(dashboard_url).rstrip('/')}/#/{self.page(submission_id)}"

    def page(self, submission_id: Any) -> str:
        raise NotImplementedError

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        dashboard_url = XCom.get_value(ti_key=ti_key, key=XCOM_DASHBOARD_URL)
        submission_id = XCom.get_value(ti_key=ti_key, key=XCOM_SUBMISSION_ID) if self.needs_submission_id else None
        return self.url(dashboard_url, submission_id)


class RayJobDashboardLink(_RayDashboardLink):
    """Link to the task's job in the Ray dashboard."""

    name = "Ray Job"
    needs_submission_id = True

    def page(self, submission_id: Any) -> str:
        return f"jobs/{submission_id}"


class RayClusterDashboardLink(_RayDashboardLink):
    """Link to the cluster page of the Ray dashboard the task's job or cluster is on."""

    name = "Ray Cluster"

    def page(self, submission_id: Any) -> str:
        return "cluster"


class RayServeDashboardLink(_RayDashboardLink):
    """Link to the Serve page of the Ray dashboard of the task's RayService."""

    name = "Ray Serve"

    def page(self, submission_id: Any) -> str:
        return "serve"


def publish_links(operator: BaseOperator, ti: Any, dashboard_url: str, submission_id: str | None = None) -> None:
    """
    Push ``dashboard_url`` (and ``submission_id``) and, right away, the value of each of the
    operator's dashboard links, so the task page links to the job while it runs; Airflow rewrites
    the same values when the task ends.
    """
    ti.xcom_push(key=XCOM_DASHBOARD_URL, value=dashboard_url)
    if submission_id is not None:
        ti.xcom_push(key=XCOM_SUBMISSION_ID, value=submission_id)
    for link in operator.operator_extra_links:
        if isinstance(link, _RayDashboardLink) and (url := link.url(dashboard_url, submission_id)):
            ti.xcom_push(key=link.xcom_key, value=url)
