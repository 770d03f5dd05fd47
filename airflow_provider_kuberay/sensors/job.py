"""Sensor that waits for a Ray job to reach a terminal state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator

from airflow_provider_kuberay.links import RayJobDashboardLink
from airflow_provider_kuberay.operators._deferral import check_positive, default_deferrable

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook


class KubeRayJobSensor(BaseSensorOperator):
    """
    Wait until a Ray job submitted through the Ray Jobs API is terminal.

    Succeeds when the job ``SUCCEEDED``; fails (or skips, with ``soft_fail``) when it ended
    ``FAILED`` or ``STOPPED``, with Ray's message and the log's last lines.

    :param submission_id: the job's submission id (templated), e.g. the XCom of
        :class:`KubeRaySubmitJobOperator` with ``wait_for_completion=False``.
    :param ray_dashboard_conn_id: id of a ``ray_dashboard`` connection.
    :param dashboard_url: dashboard URL overriding the connection's host (templated).
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param log_tail_lines: how many last log lines a failure message carries.
    """

    template_fields: Sequence[str] = ("submission_id", "dashboard_url")
    operator_extra_links = (RayJobDashboardLink(),)

    def __init__(
        self,
        *,
        submission_id: str,
        ray_dashboard_conn_id: str | None = "ray_dashboard_default",
        dashboard_url: str | None = None,
        deferrable: bool | None = None,
        log_tail_lines: int = 50,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_positive("log_tail_lines", log_tail_lines, allow_zero=True, integer=True)
        self.submission_id = submission_id
        self.ray_dashboard_conn_id = ray_dashboard_conn_id
        self.dashboard_url = dashboard_url
        self.deferrable = default_deferrable(deferrable)
        self.log_tail_lines = log_tail_lines

    @cached_property
    def hook(self) -> RayDashboardHook:
        from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook

        return RayDashboardHook(self.ray_dashboard_conn_id, dashboard_url=self.dashboard_url)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        from airflow_provider_kuberay.triggers.ray_dashboard_job import RayDashboardJobTrigger

        if not self.poke(context):
            self.defer(
                trigger=RayDashboardJobTrigger(
                    submission_id=self.submission_id,
                    ray_dashboard_conn_id=self.ray_dashboard_conn_id,
                    dashboard_url=self.dashboard_url,
                    poll_interval=self.poke_interval,
                    stream_logs=False,
                    log_tail_lines=self.log_tail_lines,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.timeout),
            )
        return None

    def poke(self, context: Context) -> bool:
        from airflow_provider_kuberay.status.jobs_api import JobOutcome, job_event, judge_job

        verdict = judge_job(self.hook.get_job_info(self.submission_id))
        self.log.info("Ray job %s is %s", self.submission_id, verdict.status.value)
        if not verdict.terminal:
            return False
        if not verdict.succeeded:
            self._fail(job_event(self.submission_id, JobOutcome.FAILED, verdict=verdict, log_tail=self._log_tail()))
        return True

    def _log_tail(self) -> str:
        from airflow_provider_kuberay.log_lines import last_lines

        return last_lines(self.hook.get_job_logs(self.submission_id), self.log_tail_lines)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        """Judge the trigger's event: success returns, anything else fails the sensor."""
        from airflow_provider_kuberay.status.jobs_api import JobOutcome

        if event.get("outcome") != JobOutcome.SUCCEEDED.value:
            self._fail(event)
        self.log.info("Ray job %s succeeded", self.submission_id)

    def _fail(self, event: dict[str, Any]) -> None:
        from airflow.sdk.exceptions import AirflowSkipException

        from airflow_provider_kuberay.exceptions import RayJobFailedError
        from airflow_provider_kuberay.status.jobs_api import failure_message

        message = failure_message(event)
        if self.soft_fail:
            raise AirflowSkipException(message)
        raise RayJobFailedError(message)
