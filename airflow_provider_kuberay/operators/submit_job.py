"""Submit a job to an existing Ray cluster through the Ray Jobs API and follow it to its end."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_kuberay.lineage.operator_facets import OpenLineageFacets
from airflow_provider_kuberay.lineage.run import RayRun, current_context
from airflow_provider_kuberay.links import RayClusterDashboardLink, RayJobDashboardLink, publish_links
from airflow_provider_kuberay.operators._dashboard_target import DashboardTarget
from airflow_provider_kuberay.tasks.deferral import default_deferrable, wait_deadline, wait_with
from airflow_provider_kuberay.tasks.inputs import check_positive, check_reattach_on_clear

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
    from airflow_provider_kuberay.triggers.ray_dashboard_job import RayDashboardJobTrigger

XCOM_JOB_STATUS = "job_status"


class KubeRaySubmitJobOperator(OpenLineageFacets, BaseOperator):
    """
    Submit a job to an existing Ray cluster through the Ray Jobs REST API, wait for it, stream its log.

    The submission id is derived from the task instance (dag, task, run, map index) unless given,
    so a retried task or a restarted worker finds the job it submitted and follows it instead of
    submitting it twice. A job that failed in an earlier try is resubmitted by the retry. The task
    succeeds only when the job ends ``SUCCEEDED``; ``FAILED`` or ``STOPPED`` fail it with Ray's
    message and the last lines of the job log.

    With the OpenLineage provider enabled, the task's events carry a ``kuberay`` run facet (submission
    id, cluster, namespace, dashboard URL) and the job gets the task's run as its OpenLineage parent
    (``OPENLINEAGE_PARENT_ID`` and friends in ``runtime_env.env_vars``, unless set there already).

    XComs: ``submission_id`` (also the return value), ``dashboard_url``, ``job_status``. With
    ``return_result``, the return value is instead the JSON value the entrypoint emitted through
    :func:`airflow_provider_kuberay.result.emit` (a stdout line that needs no Airflow in the Ray image).

    :param entrypoint: the shell command Ray runs, e.g. ``python main.py`` (templated).
    :param runtime_env: Ray runtime env as a dict or YAML text (templated); local ``working_dir``
        and ``py_modules`` directories are uploaded to the cluster first.
    :param entrypoint_num_cpus: CPUs reserved for the entrypoint.
    :param entrypoint_num_gpus: GPUs reserved for the entrypoint.
    :param entrypoint_memory: memory in bytes reserved for the entrypoint.
    :param entrypoint_resources: custom Ray resources reserved for the entrypoint (templated).
    :param metadata: string metadata attached to the job (templated).
    :param submission_id: an explicit submission id instead of the derived one (templated).
    :param ray_dashboard_conn_id: id of a ``ray_dashboard`` connection (a cluster reachable by URL).
    :param dashboard_url: dashboard URL overriding the connection's host (templated).
    :param cluster_name: instead of a ``ray_dashboard`` connection, a RayCluster on Kubernetes,
        reached as the ``kuberay`` connection's ``dashboard_access`` says (templated).
    :param namespace: the RayCluster's namespace; the connection's by default (templated).
    :param kuberay_conn_id: id of a ``kuberay`` connection (with ``cluster_name``).
    :param wait_for_completion: wait for the job's end (else return right after submission).
    :param deferrable: wait in the triggerer instead of the worker; defaults to
        ``[operators] default_deferrable``.
    :param poll_interval: seconds between status checks; the job's end is usually seen sooner, as
        Ray signals it (see the README, "Ends seen as they happen").
    :param stream_logs: copy the job's log into the task log while it runs.
    :param log_tail_lines: how many last log lines a failure message carries.
    :param return_result: return the value the entrypoint emits with
        :func:`airflow_provider_kuberay.result.emit` instead of the submission id; a job that
        emits none fails the task.
    :param cancel_on_kill: stop the job this task submitted when the task is killed: in the worker,
        or, deferred, when a user marks it failed or succeeded or clears it (Airflow 3.3+ calls the
        trigger's ``on_kill``). A job this task did not submit is never stopped.
    :param reattach_on_clear: a cleared task follows the job its task instance submitted before
        (the default, resumable); ``False``: a cleared task submits a new job under a new submission
        id, which its own later retries adopt. Only for the derived submission id.
    """

    template_fields: Sequence[str] = (
        "entrypoint",
        "runtime_env",
        "entrypoint_resources",
        "metadata",
        "submission_id",
        "dashboard_url",
        "cluster_name",
        "namespace",
    )
    template_fields_renderers = {"runtime_env": "json", "metadata": "json", "entrypoint": "bash"}
    operator_extra_links = (RayJobDashboardLink(), RayClusterDashboardLink())
    ui_color = "#e0f3ff"

    def __init__(
        self,
        *,
        entrypoint: str,
        runtime_env: Mapping[str, Any] | str | None = None,
        entrypoint_num_cpus: float | None = None,
        entrypoint_num_gpus: float | None = None,
        entrypoint_memory: int | None = None,
        entrypoint_resources: Mapping[str, float] | None = None,
        metadata: Mapping[str, str] | None = None,
        submission_id: str | None = None,
        ray_dashboard_conn_id: str | None = "ray_dashboard_default",
        dashboard_url: str | None = None,
        cluster_name: str | None = None,
        namespace: str | None = None,
        kuberay_conn_id: str = "kuberay_default",
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        poll_interval: float = 5.0,
        stream_logs: bool = True,
        log_tail_lines: int = 50,
        return_result: bool = False,
        cancel_on_kill: bool = True,
        reattach_on_clear: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_reattach_on_clear(reattach_on_clear, submission_id, "submission_id")
        check_positive("entrypoint_num_cpus", entrypoint_num_cpus, allow_zero=True)
        check_positive("entrypoint_num_gpus", entrypoint_num_gpus, allow_zero=True)
        check_positive("entrypoint_memory", entrypoint_memory, allow_zero=True, integer=True)
        check_positive("poll_interval", poll_interval)
        check_positive("log_tail_lines", log_tail_lines, allow_zero=True, integer=True)
        self.entrypoint = entrypoint
        self.runtime_env = runtime_env
        self.entrypoint_num_cpus = entrypoint_num_cpus
        self.entrypoint_num_gpus = entrypoint_num_gpus
        self.entrypoint_memory = entrypoint_memory
        self.entrypoint_resources = entrypoint_resources
        self.metadata = metadata
        self.submission_id = submission_id
        self.ray_dashboard_conn_id = ray_dashboard_conn_id
        self.dashboard_url = dashboard_url
        self.cluster_name = cluster_name
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable(deferrable)
        self.poll_interval = poll_interval
        self.stream_logs = stream_logs
        self.log_tail_lines = log_tail_lines
        self.return_result = return_result
        self.cancel_on_kill = cancel_on_kill
        self.reattach_on_clear = reattach_on_clear
        # Only for on_kill within the same process; never read after a deferral.
        self._submitted_id: str | None = None

    @cached_property
    def target(self) -> DashboardTarget:
        return DashboardTarget(
            ray_dashboard_conn_id=self.ray_dashboard_conn_id,
            dashboard_url=self.dashboard_url,
            cluster_name=self.cluster_name or None,
            namespace=self.namespace,
            kuberay_conn_id=self.kuberay_conn_id,
        )

    @cached_property
    def hook(self) -> RayDashboardHook:
        return self.target.sync_hook()

    def execute(self, context: Context) -> Any:
        from airflow_provider_kuberay.lineage.parent import with_task_parent
        from airflow_provider_kuberay.operators._job_submission import JobSubmission
        from airflow_provider_kuberay.result import new_nonce

        nonce = new_nonce() if self.return_result else None
        submission = JobSubmission.from_operator(self, context, nonce)  # validates before any API call
        self.target.check()
        hook = self.hook
        hook.endpoint  # noqa: B018 -- reads and checks the connection, no request yet
        runtime_env = hook.upload_local_packages(submission.runtime_env) if submission.runtime_env else {}
        runtime_env = with_task_parent(runtime_env, context["ti"])
        self.log.info(submission.submit_or_adopt(hook, runtime_env))
        self._submitted_id = submission.submission_id
        self.record_lineage(submission_id=submission.submission_id, dashboard_url=hook.endpoint.url)
        publish_links(self, context["ti"], hook.endpoint.url, submission.submission_id)
        if not self.wait_for_completion:
            return submission.submission_id
        trigger = self._trigger(
            submission.submission_id, wait_deadline(self, context["ti"].start_date), submission.owner_key
        )
        return self._finish(context, wait_with(self, trigger, context))

    def lineage_plan(self) -> RayRun:
        """The job this task submits: its submission id, and the dashboard of a ``ray_dashboard`` connection."""
        from airflow_provider_kuberay.tasks.identity import TaskIdentity

        submission_id = self.submission_id
        context = current_context()
        if not submission_id and context is not None:
            submission_id = TaskIdentity.from_context(context, reattach_on_clear=self.reattach_on_clear).submission_id
        # A RayCluster's dashboard is found through the Kubernetes API: known once the task ran.
        dashboard_url = None if self.cluster_name else self.hook.endpoint.url
        return RayRun(
            submission_id=submission_id or None,
            cluster=self.cluster_name or None,
            namespace=self.namespace or None,
            dashboard_url=dashboard_url or None,
        )

    def _trigger(self, submission_id: str, deadline: float | None, owner_key: str) -> RayDashboardJobTrigger:
        from airflow_provider_kuberay.triggers.ray_dashboard_job import RayDashboardJobTrigger

        return RayDashboardJobTrigger(
            submission_id=submission_id,
            **self.target.trigger_arguments(),
            poll_interval=self.poll_interval,
            stream_logs=self.stream_logs,
            log_tail_lines=self.log_tail_lines,
            deadline=deadline,
            cancel_on_kill=self.cancel_on_kill,
            owner_key=owner_key,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Finish after the trigger fired: judge the job's outcome from the event alone."""
        return self._finish(context, event)

    def _finish(self, context: Context, payload: Mapping[str, Any]) -> Any:
        from airflow_provider_kuberay.tasks.failure import failure_error
        from airflow_provider_kuberay.triggers.events import JobsApiEvent, Outcome

        event = JobsApiEvent.from_payload(payload)
        submission_id = event.submission_id
        self.record_lineage(submission_id=submission_id, status=event.status)
        context["ti"].xcom_push(key=XCOM_JOB_STATUS, value=event.status)
        if event.outcome is Outcome.TIMEOUT:
            self._stop(submission_id)
        if not event.succeeded:
            raise failure_error(event)
        self.log.info("Ray job %s succeeded", submission_id)
        return self._job_result(submission_id) if self.return_result else submission_id

    def _job_result(self, submission_id: str) -> Any:
        """The value the job emitted, found by the nonce recorded in the job's metadata."""
        from airflow_provider_kuberay.tasks.results import result_from_log

        metadata = self.hook.get_job_info(submission_id).get("metadata")
        return result_from_log(self.hook.get_job_logs(submission_id), metadata, f"Ray job {submission_id}")

    def _stop(self, submission_id: str) -> None:
        try:
            stopped = self.hook.stop_job(submission_id)
        except Exception as err:
            self.log.warning("Could not stop Ray job %s: %s", submission_id, err)
        else:
            self.log.info("Stopped Ray job %s" if stopped else "Ray job %s was not running", submission_id)

    def on_kill(self) -> None:
        """Stop the job this task submitted (and nothing else)."""
        if self._submitted_id and self.cancel_on_kill:
            self._stop(self._submitted_id)
