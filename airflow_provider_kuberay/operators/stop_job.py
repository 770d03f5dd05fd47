"""Stop a Ray job: a Jobs API job by submission id, or a KubeRay RayJob by name (idempotently)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_kuberay.operators._dashboard_target import DashboardTarget
from airflow_provider_kuberay.tasks.inputs import check_positive

if TYPE_CHECKING:
    from airflow.sdk import Context


class KubeRayStopJobOperator(BaseOperator):
    """
    Stop a Ray job. Give ``submission_id`` to stop a Ray Jobs API job (on a ``ray_dashboard``
    connection, or on the RayCluster ``cluster_name`` through a ``kuberay`` connection), or
    ``rayjob_name`` to delete a KubeRay RayJob (KubeRay then stops its Ray job, and deletes a cluster
    the RayJob created). A job that has ended already, or does not exist, is not an error, so
    retries are safe.

    Returns whether there was something to stop: the job was running, or the RayJob existed.

    :param submission_id: the Jobs API submission id to stop (templated).
    :param rayjob_name: the RayJob to delete, instead of ``submission_id`` (templated).
    :param ray_dashboard_conn_id: id of a ``ray_dashboard`` connection (with ``submission_id``).
    :param dashboard_url: dashboard URL overriding the connection's host (templated).
    :param cluster_name: with ``submission_id``, a RayCluster whose dashboard runs the job (templated).
    :param namespace: namespace of the RayCluster or RayJob; the connection's by default (templated).
    :param kuberay_conn_id: id of a ``kuberay`` connection.
    :param wait_for_stop: wait until the job has ended (or the RayJob is gone).
    :param poll_interval: seconds between checks while waiting.
    :param timeout_seconds: how long to wait.
    """

    template_fields: Sequence[str] = ("submission_id", "rayjob_name", "dashboard_url", "cluster_name", "namespace")

    def __init__(
        self,
        *,
        submission_id: str | None = None,
        rayjob_name: str | None = None,
        ray_dashboard_conn_id: str | None = "ray_dashboard_default",
        dashboard_url: str | None = None,
        cluster_name: str | None = None,
        namespace: str | None = None,
        kuberay_conn_id: str = "kuberay_default",
        wait_for_stop: bool = True,
        poll_interval: float = 2.0,
        timeout_seconds: float = 300.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if bool(submission_id) == bool(rayjob_name):
            raise ValueError("give either submission_id (a Jobs API job) or rayjob_name (a RayJob), not both")
        check_positive("poll_interval", poll_interval)
        check_positive("timeout_seconds", timeout_seconds)
        self.submission_id = submission_id
        self.rayjob_name = rayjob_name
        self.ray_dashboard_conn_id = ray_dashboard_conn_id
        self.dashboard_url = dashboard_url
        self.cluster_name = cluster_name
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.wait_for_stop = wait_for_stop
        self.poll_interval = poll_interval
        self.timeout_seconds = timeout_seconds

    def execute(self, context: Context) -> bool:
        if self.rayjob_name:
            from airflow_provider_kuberay.tasks.adoption import delete_named

            existed, _, _ = delete_named(
                self.kuberay_conn_id, "RayJob", self.rayjob_name, "rayjob_name", self.namespace,
                log=self.log.info, wait=self.wait_for_stop, timeout=self.timeout_seconds,
            )  # fmt: skip
            return existed
        return self._stop_submission(str(self.submission_id))

    def _stop_submission(self, submission_id: str) -> bool:
        from airflow_provider_kuberay.exceptions import RayJobNotFoundError
        from airflow_provider_kuberay.status.jobs_api import judge_job
        from airflow_provider_kuberay.tasks.identity import check_submission_id

        check_submission_id(submission_id)
        target = DashboardTarget(
            ray_dashboard_conn_id=self.ray_dashboard_conn_id,
            dashboard_url=self.dashboard_url,
            cluster_name=self.cluster_name or None,
            namespace=self.namespace,
            kuberay_conn_id=self.kuberay_conn_id,
        )
        target.check()
        hook = target.sync_hook()
        try:
            running = hook.stop_job(submission_id)
        except RayJobNotFoundError:
            self.log.info("Ray job %s does not exist: nothing to stop", submission_id)
            return False
        self.log.info("Asked Ray to stop job %s" if running else "Ray job %s was not running", submission_id)
        deadline = time.monotonic() + self.timeout_seconds
        while self.wait_for_stop and not (verdict := judge_job(hook.get_job_info(submission_id))).terminal:
            if time.monotonic() > deadline:
                status = verdict.status.value
                raise TimeoutError(f"Ray job {submission_id} is still {status} after {self.timeout_seconds}s")
            time.sleep(self.poll_interval)
        return running
