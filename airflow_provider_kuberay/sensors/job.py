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
    Wait until a Ray job is terminal: a job of the Ray Jobs API (``submission_id``) or a KubeRay
    RayJob (``job_name``).

    Succeeds when the job succeeded (a RayJob: ``Complete`` with ``SUCCEEDED``); fails (or skips,
    with ``soft_fail``) when it ended otherwise, with Ray's or KubeRay's reason and message.

    :param submission_id: a Jobs API submission id (templated), e.g. the XCom of
        :class:`KubeRaySubmitJobOperator` with ``wait_for_completion=False``.
    :param job_name: a RayJob's name (templated), e.g. from :class:`KubeRayRunJobOperator`.
    :param namespace: the RayJob's namespace; the connection's by default (templated).
    :param kuberay_conn_id: id of a ``kuberay`` connection (RayJob case).
    :param ray_dashboard_conn_id: id of a ``ray_dashboard`` connection (Jobs API case).
    :param dashboard_url: dashboard URL overriding the connection's host (templated).
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param log_tail_lines: how many last log lines a failure message carries.
    """

    template_fields: Sequence[str] = ("submission_id", "job_name", "namespace", "dashboard_url")
    operator_extra_links = (RayJobDashboardLink(),)

    def __init__(
        self,
        *,
        submission_id: str | None = None,
        job_name: str | None = None,
        namespace: str | None = None,
        kuberay_conn_id: str = "kuberay_default",
        ray_dashboard_conn_id: str | None = "ray_dashboard_default",
        dashboard_url: str | None = None,
        deferrable: bool | None = None,
        log_tail_lines: int = 50,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_positive("log_tail_lines", log_tail_lines, allow_zero=True, integer=True)
        if bool(submission_id) == bool(job_name):
            raise ValueError("give exactly one of submission_id (Ray Jobs API) and job_name (RayJob)")
        self.submission_id = submission_id
        self.job_name = job_name
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.ray_dashboard_conn_id = ray_dashboard_conn_id
        self.dashboard_url = dashboard_url
        self.deferrable = default_deferrable(deferrable)
        self.log_tail_lines = log_tail_lines

    @cached_property
    def hook(self) -> RayDashboardHook:
        from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook

        return RayDashboardHook(self.ray_dashboard_conn_id, dashboard_url=self.dashboard_url)

    def check_inputs(self) -> None:
        """Check the rendered parameters and the connection, naming them; no request."""
        from airflow_provider_kuberay.job_ids import check_submission_id
        from airflow_provider_kuberay.operators import _inputs as inputs

        if self.job_name:
            inputs.resource_name(self.job_name, "job_name", "RayJob")
            inputs.namespace(self.namespace)
            self._kube_hook().check_connection()
        else:
            check_submission_id(self.submission_id or "", "submission_id")
            self.hook.endpoint  # noqa: B018 -- reads and checks the connection

    def execute(self, context: Context) -> Any:
        self.check_inputs()
        if not self.deferrable:
            return super().execute(context)
        if not self.poke(context):
            self.defer(trigger=self._trigger(), method_name="execute_complete", timeout=timedelta(seconds=self.timeout))
        return None

    def _trigger(self) -> Any:
        if self.job_name:
            from airflow_provider_kuberay.triggers.ray_job import RayJobTrigger

            return RayJobTrigger(
                name=self.job_name,
                namespace=self._kube_hook().namespace_or_default(self.namespace),
                kuberay_conn_id=self.kuberay_conn_id,
                resync_interval=self.poke_interval,
                stream_logs=False,
                log_tail_lines=self.log_tail_lines,
            )
        from airflow_provider_kuberay.triggers.ray_dashboard_job import RayDashboardJobTrigger

        return RayDashboardJobTrigger(
            submission_id=str(self.submission_id),
            ray_dashboard_conn_id=self.ray_dashboard_conn_id,
            dashboard_url=self.dashboard_url,
            poll_interval=self.poke_interval,
            stream_logs=False,
            log_tail_lines=self.log_tail_lines,
        )

    def _kube_hook(self) -> Any:
        from airflow_provider_kuberay.hooks.kuberay import KubeRayHook

        return KubeRayHook(self.kuberay_conn_id)

    def _poke_ray_job(self) -> bool:
        from airflow_provider_kuberay.status import job_verdict

        hook = self._kube_hook()
        namespace = hook.namespace_or_default(self.namespace)
        verdict = job_verdict(hook.get_object("RayJob", str(self.job_name), namespace))
        self.log.info("RayJob %s/%s: %s", namespace, self.job_name, verdict.describe())
        if verdict.failed:
            self._raise(f"RayJob {namespace}/{self.job_name} failed: {verdict.describe()}")
        return verdict.succeeded

    def poke(self, context: Context) -> bool:
        from airflow_provider_kuberay.status.jobs_api import JobOutcome, job_event, judge_job

        if self.job_name:
            return self._poke_ray_job()
        assert self.submission_id is not None
        verdict = judge_job(self.hook.get_job_info(self.submission_id))
        self.log.info("Ray job %s is %s", self.submission_id, verdict.status.value)
        if not verdict.terminal:
            return False
        if not verdict.succeeded:
            self._fail(job_event(self.submission_id, JobOutcome.FAILED, verdict=verdict, log_tail=self._log_tail()))
        return True

    def _log_tail(self) -> str:
        from airflow_provider_kuberay.log_lines import last_lines

        return last_lines(self.hook.get_job_logs(str(self.submission_id)), self.log_tail_lines)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        """Judge the trigger's event: success returns, anything else fails the sensor."""
        from airflow_provider_kuberay.status.jobs_api import JobOutcome

        if event.get("outcome") != JobOutcome.SUCCEEDED.value:
            self._fail(event)
        self.log.info("Ray job %s succeeded", self.job_name or self.submission_id)

    def _fail(self, event: dict[str, Any]) -> None:
        from airflow_provider_kuberay.operators._kube_task import failure_text
        from airflow_provider_kuberay.status.jobs_api import failure_message

        # RayJob events name their kind; Jobs API events do not.
        self._raise(failure_text(event) if "kind" in event else failure_message(event))

    def _raise(self, message: str) -> None:
        from airflow.providers.common.compat.sdk import AirflowSkipException

        from airflow_provider_kuberay.exceptions import RayJobFailedError

        if self.soft_fail:
            raise AirflowSkipException(message)
        raise RayJobFailedError(message)
