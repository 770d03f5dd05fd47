"""Extra links from Airflow task pages to the Ray dashboard."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

XCOM_DASHBOARD_URL = "dashboard_url"
XCOM_SUBMISSION_ID = "submission_id"


class RayJobDashboardLink(BaseOperatorLink):
    """Link to the task's job in the Ray dashboard, from the task's XComs."""

    name = "Ray Job"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        dashboard_url = XCom.get_value(ti_key=ti_key, key=XCOM_DASHBOARD_URL)
        submission_id = XCom.get_value(ti_key=ti_key, key=XCOM_SUBMISSION_ID)
        if not dashboard_url or not submission_id:
            return ""
        return f"{str(dashboard_url).rstrip('/')}/#/jobs/{submission_id}"
