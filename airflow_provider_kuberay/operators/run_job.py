"""Run a Ray job on Kubernetes as a RayJob (on a new cluster or an existing one) and follow it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_kuberay.lineage.operator_facets import OpenLineageFacets
from airflow_provider_kuberay.lineage.run import RayRun, current_context
from airflow_provider_kuberay.links import RayClusterDashboardLink, RayJobDashboardLink, publish_links
from airflow_provider_kuberay.tasks.deferral import default_deferrable, wait_deadline, wait_with
from airflow_provider_kuberay.tasks.inputs import check_positive, check_reattach_on_clear

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
    from airflow_provider_kuberay.specs import ClusterSpec
    from airflow_provider_kuberay.tasks.identity import TaskIdentity
    from airflow_provider_kuberay.triggers.events import RayJobEvent
    from airflow_provider_kuberay.triggers.ray_job import RayJobTrigger

# A finished job's own cluster is kept this long for inspection, then KubeRay deletes it.
DEFAULT_TTL_SECONDS = 300
# KubeRay creates the cluster and waits; the task submits the job through the Jobs API.
INTERACTIVE_MODE = "InteractiveMode"


def ended_by_deadline(event: RayJobEvent) -> bool:
    """
    Whether KubeRay failed the RayJob because a deadline passed (``activeDeadlineSeconds``:
    reason ``DeadlineExceeded``; KubeRay v1.7 also has ``preRunningDeadlineSeconds``).

    KubeRay marks such a RayJob Failed but leaves its Ray job running on the cluster (seen with
    KubeRay 1.6 in K8sJobMode); deleting the RayJob makes KubeRay's finalizer stop it.
    """
    from airflow_provider_kuberay.triggers.events import Outcome

    return event.outcome is Outcome.FAILED and event.reason.endswith("DeadlineExceeded")


class KubeRayRunJobOperator(OpenLineageFacets, BaseOperator):
    """
    Run a Ray job as a KubeRay RayJob and wait for its end, streaming its output into the task log.

    Give either ``cluster`` (a new cluster for this job, deleted by KubeRay ``ttl_seconds_after_finished``
    after the job ends, unless ``shutdown_after_job_finishes`` or ``deletion_strategy`` say otherwise)
    or ``cluster_name`` (an existing RayCluster, never deleted by this task).
    The RayJob's name derives from the task instance unless given, and carries the task instance in
    its labels: a retried or restarted task adopts the RayJob it created instead of creating a second
    one (a RayJob that failed in an earlier try is replaced). Success only on ``Complete`` with
    ``SUCCEEDED``; any other end fails the task with KubeRay's reason and message, the last lines of
    the job's log and the RayJob's recent events.

    XCom (return value): ``name``, ``namespace``, ``ray_cluster_name``, ``job_id``, ``dashboard_url``,
    ``job_status``, ``job_deployment_status``; also pushed under those keys. With ``return_result``,
    the return value is instead the JSON value the entrypoint emitted through
    :func:`airflow_provider_kuberay.result.emit` (a stdout line that needs no Airflow in the Ray image).

    :param entrypoint: the command Ray runs (templated).
    :param cluster: a :class:`~airflow_provider_kuberay.specs.ClusterSpec` for a new cluster.
    :param cluster_name: an existing RayCluster in ``namespace`` (templated).
    :param runtime_env: Ray runtime env, dict or YAML text (templated).
    :param name: the RayJob's name instead of the derived one (templated).
    :param namespace: namespace; the connection's by default (templated).
    :param kuberay_conn_id: id of a ``kuberay`` connection.
    :param submission_mode: ``K8sJobMode`` (default), ``HTTPMode``, ``SidecarMode`` or ``InteractiveMode``.
        In ``InteractiveMode`` the task itself submits the entrypoint through the Ray Jobs API once
        KubeRay reports the cluster ready (``Waiting``), uploading a local ``working_dir`` or
        ``py_modules`` directory first, so local code runs without building an image; it then sets
        the RayJob's ``spec.jobId`` and KubeRay follows the job as usual.
    :param ttl_seconds_after_finished: how long a new cluster outlives its job before KubeRay deletes
        it; 300 by default when it does.
    :param shutdown_after_job_finishes: whether KubeRay deletes the job's cluster when the job ends
        (``spec.shutdownAfterJobFinishes``); by default yes for a new cluster (unless
        ``deletion_strategy`` has ``deletionRules``), never for an existing one.
    :param active_deadline_seconds: KubeRay fails the job after this many seconds.
    :param pre_running_deadline_seconds: KubeRay fails the job if it is not running this many seconds
        after creation (``spec.preRunningDeadlineSeconds``; e.g. a cluster that cannot be scheduled).
    :param deletion_strategy: KubeRay's ``spec.deletionStrategy``: ``{"deletionRules": [{"policy":
        "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 60}}, ...]}`` or
        ``{"onSuccess": {"policy": ...}, "onFailure": {"policy": ...}}`` (templated; needs KubeRay's
        ``RayJobDeletionPolicy`` feature gate).
    :param backoff_limit: KubeRay retries of the whole RayJob.
    :param submitter_pod_template: pod template of the submitter Kubernetes Job in K8sJobMode
        (``spec.submitterPodTemplate``, templated).
    :param submitter_backoff_limit: retries of the submitter Kubernetes Job
        (``spec.submitterConfig.backoffLimit``).
    :param labels: extra labels of the RayJob (templated).
    :param annotations: extra annotations of the RayJob (templated).
    :param queue_name: the Kueue LocalQueue to queue the job in (label ``kueue.x-k8s.io/queue-name``);
        the RayJob is created suspended and runs once Kueue admits it; needs a new ``cluster``
        (templated).
    :param priority_class: the Kueue WorkloadPriorityClass (label ``kueue.x-k8s.io/priority-class``;
        templated).
    :param entrypoint_num_cpus: CPUs reserved for the entrypoint.
    :param entrypoint_num_gpus: GPUs reserved for the entrypoint.
    :param entrypoint_resources: custom Ray resources reserved for the entrypoint.
    :param metadata: Ray job metadata (templated).
    :param job_overrides: raw dict, YAML text or YAML file merged on top of the RayJob spec (templated).
    :param dashboard_link: URL template of the Ray dashboard for the extra link, with ``{cluster}``
        and ``{namespace}``; in-cluster addresses are not browsable, so set this to your ingress.
    :param wait_for_completion: wait for the job's end.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param resync_interval: seconds between re-reads of the RayJob besides the shared watch.
    :param stream_logs: copy the job's output into the task log.
    :param log_tail_lines: how many last log lines a failure message carries.
    :param delete_on_kill: delete the RayJob this task created when the task is killed or times out
        (``execution_timeout``, a deferral timeout, or a KubeRay deadline such as ``activeDeadlineSeconds``,
        after which KubeRay would leave the Ray job running); KubeRay then stops its Ray job. Deferred, the
        same when a user marks the task failed or succeeded or clears it (Airflow 3.3+ calls the trigger's
        ``on_kill``). A RayJob without this task instance's label is never deleted.
    :param reattach_on_clear: a cleared task follows the RayJob its task instance created before
        (the default, resumable); ``False``: a cleared task creates a new RayJob under a new name,
        which its own later retries adopt. Only for the derived name.
    :param return_result: return the value the entrypoint emits with
        :func:`airflow_provider_kuberay.result.emit` instead of the summary; a job that emits none
        fails the task.
    """

    template_fields: Sequence[str] = (
        "entrypoint",
        "cluster_name",
        "runtime_env",
        "name",
        "namespace",
        "metadata",
        "job_overrides",
        "deletion_strategy",
        "submitter_pod_template",
        "labels",
        "annotations",
        "queue_name",
        "priority_class",
    )
    template_fields_renderers = {
        "runtime_env": "json",
        "metadata": "json",
        "job_overrides": "yaml",
        "deletion_strategy": "json",
        "submitter_pod_template": "yaml",
        "labels": "json",
        "annotations": "json",
    }
    operator_extra_links = (RayJobDashboardLink(), RayClusterDashboardLink())

    def __init__(
        self,
        *,
        entrypoint: str,
        cluster: ClusterSpec | None = None,
        cluster_name: str | None = None,
        runtime_env: Mapping[str, Any] | str | None = None,
        name: str | None = None,
        namespace: str | None = None,
        kuberay_conn_id: str = "kuberay_default",
        submission_mode: str = "K8sJobMode",
        ttl_seconds_after_finished: int | None = None,
        shutdown_after_job_finishes: bool | None = None,
        active_deadline_seconds: int | None = None,
        pre_running_deadline_seconds: int | None = None,
        deletion_strategy: Mapping[str, Any] | None = None,
        backoff_limit: int | None = None,
        submitter_pod_template: Mapping[str, Any] | None = None,
        submitter_backoff_limit: int | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        queue_name: str | None = None,
        priority_class: str | None = None,
        entrypoint_num_cpus: float | None = None,
        entrypoint_num_gpus: float | None = None,
        entrypoint_resources: Mapping[str, float] | None = None,
        metadata: Mapping[str, str] | None = None,
        job_overrides: Mapping[str, Any] | str | None = None,
        dashboard_link: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        resync_interval: float = 15.0,
        stream_logs: bool = True,
        log_tail_lines: int = 50,
        delete_on_kill: bool = True,
        return_result: bool = False,
        reattach_on_clear: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_reattach_on_clear(reattach_on_clear, name, "name")
        if cluster is not None and cluster_name:
            raise ValueError("give either cluster (a new cluster) or cluster_name (an existing one), not both")
        check_positive("resync_interval", resync_interval)
        check_positive("log_tail_lines", log_tail_lines, allow_zero=True, integer=True)
        self.entrypoint = entrypoint
        self.cluster = cluster
        self.cluster_name = cluster_name
        self.runtime_env = runtime_env
        self.name = name
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.submission_mode = submission_mode
        self.ttl_seconds_after_finished = ttl_seconds_after_finished
        self.shutdown_after_job_finishes = shutdown_after_job_finishes
        self.active_deadline_seconds = active_deadline_seconds
        self.pre_running_deadline_seconds = pre_running_deadline_seconds
        self.deletion_strategy = deletion_strategy
        self.backoff_limit = backoff_limit
        self.submitter_pod_template = submitter_pod_template
        self.submitter_backoff_limit = submitter_backoff_limit
        self.labels = labels
        self.annotations = annotations
        self.queue_name = queue_name
        self.priority_class = priority_class
        self.entrypoint_num_cpus = entrypoint_num_cpus
        self.entrypoint_num_gpus = entrypoint_num_gpus
        self.entrypoint_resources = entrypoint_resources
        self.metadata = metadata
        self.job_overrides = job_overrides
        self.dashboard_link = dashboard_link
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable(deferrable)
        self.resync_interval = resync_interval
        self.stream_logs = stream_logs
        self.log_tail_lines = log_tail_lines
        self.delete_on_kill = delete_on_kill
        self.return_result = return_result
        self.reattach_on_clear = reattach_on_clear
        # Only for on_kill within the same process; never read after a deferral.
        self._created: tuple[str, str] | None = None

    def hook(self) -> KubeRayHook:
        from airflow_provider_kuberay.hooks.kuberay import KubeRayHook

        return KubeRayHook(self.kuberay_conn_id)

    def check_inputs(self) -> None:
        """Check the rendered parameters that the spec builder does not see, naming them."""
        from airflow_provider_kuberay.tasks import inputs

        inputs.optional_resource_name(self.name or None, "name", "RayJob")
        inputs.namespace(self.namespace)
        if self.cluster_name:
            inputs.resource_name(self.cluster_name, "cluster_name", "RayCluster")
        inputs.string_map(self.metadata, "metadata")
        inputs.number_map(self.entrypoint_resources, "entrypoint_resources")
        for field in ("deletion_strategy", "submitter_pod_template"):
            inputs.optional_mapping(getattr(self, field), field)
        if self.submission_mode == INTERACTIVE_MODE:
            from airflow_provider_kuberay.hooks.runtime_env import local_packages, parse_runtime_env

            if not isinstance(self.entrypoint, str) or not self.entrypoint.strip():
                raise ValueError("entrypoint must be a non-empty shell command: in InteractiveMode the task submits it")
            local_packages(parse_runtime_env(self.runtime_env))  # a local directory that is not there: now
        if self.queue_name and self.cluster_name:
            raise ValueError("queue_name needs a new cluster: Kueue admits RayJobs with their own, not cluster_name")
        if self.queue_name and self._shutdown_after_job_finishes() is False:
            raise ValueError(
                "queue_name needs shutdown_after_job_finishes (so no deletionRules): KubeRay only suspends a RayJob"
                " whose cluster goes with it"
            )

    def build_body(self, name: str, namespace: str, labels: Mapping[str, str]) -> dict[str, Any]:
        """The RayJob body, validated before any API call."""
        from airflow_provider_kuberay.specs import JobSpec, ray_job_body
        from airflow_provider_kuberay.tasks import inputs
        from airflow_provider_kuberay.tasks.object_metadata import object_metadata

        if self.cluster is None and not self.cluster_name:
            raise ValueError("give either cluster (a new cluster) or cluster_name (an existing one)")
        meta = object_metadata(self.labels, self.annotations, self.queue_name, self.priority_class)
        shutdown = self._shutdown_after_job_finishes()
        ttl = self.ttl_seconds_after_finished
        if ttl is None and shutdown:
            ttl = DEFAULT_TTL_SECONDS
        spec = JobSpec(
            entrypoint=self.entrypoint,
            cluster=self.cluster,
            cluster_name=self.cluster_name or None,
            runtime_env=self.runtime_env or None,
            submission_mode=self.submission_mode,
            shutdown_after_job_finishes=shutdown,
            ttl_seconds_after_finished=ttl,
            active_deadline_seconds=self.active_deadline_seconds,
            pre_running_deadline_seconds=inputs.optional_int(
                self.pre_running_deadline_seconds, "pre_running_deadline_seconds"
            ),
            deletion_strategy=self.deletion_strategy or None,
            backoff_limit=self.backoff_limit,
            submitter_pod_template=self.submitter_pod_template or None,
            submitter_backoff_limit=self.submitter_backoff_limit,
            entrypoint_num_cpus=self.entrypoint_num_cpus,
            entrypoint_num_gpus=self.entrypoint_num_gpus,
            entrypoint_resources=self.entrypoint_resources,
            metadata=dict(self.metadata or {}),
            overrides=self.job_overrides,
            suspend=meta.suspend,
        )
        body = ray_job_body(
            name, spec, namespace=namespace, labels={**meta.labels, **labels}, annotations=meta.annotations
        )
        if self.submission_mode == INTERACTIVE_MODE and body["spec"].get("jobId"):
            # KubeRay would leave Waiting at once and follow a job nobody submitted.
            raise ValueError("spec.jobId must not be set in InteractiveMode: the task sets it once it has submitted")
        return body

    def _shutdown_after_job_finishes(self) -> bool | None:
        """
        The given choice; by default KubeRay deletes a new cluster at the job's end, unless
        ``deletionRules`` decide (KubeRay refuses both together). An existing cluster is never deleted.
        """
        if self.shutdown_after_job_finishes is not None:
            return self.shutdown_after_job_finishes
        if self.cluster is None:
            return None
        rules = isinstance(self.deletion_strategy, Mapping) and bool(self.deletion_strategy.get("deletionRules"))
        return not rules

    def _ask_for_result(self) -> None:
        """Give the job a fresh nonce for its result line (the job keeps it in its metadata)."""
        from airflow_provider_kuberay.hooks.runtime_env import parse_runtime_env
        from airflow_provider_kuberay.result import new_nonce
        from airflow_provider_kuberay.tasks.results import ask_for_result

        self.runtime_env, self.metadata = ask_for_result(
            parse_runtime_env(self.runtime_env), dict(self.metadata or {}), new_nonce()
        )

    def execute(self, context: Context) -> Any:
        from airflow_provider_kuberay.status import job_verdict
        from airflow_provider_kuberay.tasks.adoption import create_or_adopt

        self.check_inputs()
        if self.return_result:
            self._ask_for_result()
        self._hand_down_parent_run(context)
        hook = self.hook()
        hook.check_connection()
        identity, name, namespace = self._target(context)
        body = self.build_body(name, namespace, identity.labels())
        if self.cluster_name:
            from airflow_provider_kuberay.hooks.dashboard_access import check_rayjob_cluster

            existing = hook.find_object("RayCluster", self.cluster_name, namespace)
            check_rayjob_cluster(existing, f"{namespace}/{self.cluster_name}")
        _, message = create_or_adopt(
            hook,
            "RayJob",
            body,
            identity,
            replace_if=lambda obj: job_verdict(obj).failed,
            # The earlier try's trigger deletes its RayJob unless the job had ended (see _trigger).
            deleted_by_the_clear=(lambda obj: not job_verdict(obj).terminal)
            if identity.starts_a_clearing and self.delete_on_kill
            else None,
        )
        self.log.info(message)
        self._created = (name, namespace)
        self.record_lineage(ray_job=name, namespace=namespace, cluster=self.cluster_name)
        context["ti"].xcom_push(key="name", value=name)
        context["ti"].xcom_push(key="namespace", value=namespace)
        self._link_running_job(context, hook, name, namespace)
        interactive = self.submission_mode == INTERACTIVE_MODE
        if not self.wait_for_completion and not interactive:
            return name
        deadline = wait_deadline(self, context["ti"].start_date)
        trigger = self._trigger(name, namespace, deadline, owner_key=identity.key, until_waiting=interactive)
        return self._finish(context, wait_with(self, trigger, context))

    def _hand_down_parent_run(self, context: Context) -> None:
        """Give the Ray job the task's OpenLineage run as its parent (in its runtime env), when OpenLineage is on."""
        from airflow_provider_kuberay.hooks.runtime_env import parse_runtime_env
        from airflow_provider_kuberay.lineage.parent import with_task_parent

        runtime_env = parse_runtime_env(self.runtime_env)
        with_parent = with_task_parent(runtime_env, context["ti"])
        if with_parent != runtime_env:
            self.runtime_env = with_parent

    def lineage_plan(self) -> RayRun:
        """The RayJob this task creates, and the existing cluster it runs on, if one."""
        from airflow_provider_kuberay.tasks.identity import TaskIdentity

        name = self.name
        context = current_context()
        if not name and context is not None:
            identity = TaskIdentity.from_context(context, reattach_on_clear=self.reattach_on_clear)
            name = identity.resource_name("RayJob")
        return RayRun(ray_job=name or None, cluster=self.cluster_name or None, namespace=self.namespace or None)

    def _link_running_job(self, context: Context, hook: KubeRayHook, name: str, namespace: str) -> None:
        """Set the job and cluster links while the job runs (best effort: the links are a convenience)."""
        from airflow_provider_kuberay.operators._rayjob_links import running_job_target

        try:
            target = running_job_target(hook, name, namespace, self.dashboard_link)
        except Exception as err:
            self.log.info("Could not link to the Ray dashboard of RayJob %s/%s yet: %s", namespace, name, err)
            return
        if target is not None:
            publish_links(self, context["ti"], *target)

    def _target(self, context: Context) -> tuple[TaskIdentity, str, str]:
        """The task instance, and the name and namespace of its RayJob."""
        from airflow_provider_kuberay.tasks.identity import TaskIdentity

        identity = TaskIdentity.from_context(context, reattach_on_clear=self.reattach_on_clear)
        name = self.name or identity.resource_name("RayJob")
        return identity, name, self.hook().namespace_or_default(self.namespace)

    def _submit_interactive(self, context: Context, event: RayJobEvent) -> Any:
        """
        Submit the job of an InteractiveMode RayJob whose cluster is ready, then follow it.

        The submission comes from the RayJob's stored spec under the task instance's submission id;
        a retry (or a resumed task) that finds the job already submitted follows it instead.
        KubeRay takes the job over once ``spec.jobId`` names it.
        """
        from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
        from airflow_provider_kuberay.operators._job_submission import JobSubmission
        from airflow_provider_kuberay.tasks.identity import TaskIdentity

        hook = self.hook()
        rayjob = hook.get_object("RayJob", event.name, event.namespace)
        submission = JobSubmission.from_rayjob(rayjob, TaskIdentity.from_context(context))
        dashboard = RayDashboardHook(None, endpoint=hook.dashboard_endpoint(event.ray_cluster_name, event.namespace))
        runtime_env = dashboard.upload_local_packages(submission.runtime_env) if submission.runtime_env else {}
        self.log.info(submission.submit_or_adopt(dashboard, runtime_env))
        hook.patch_object("RayJob", event.name, {"spec": {"jobId": submission.submission_id}}, event.namespace)
        self.log.info("RayJob %s/%s follows Ray job %s", event.namespace, event.name, submission.submission_id)
        if not self.wait_for_completion:
            return event.name
        trigger = self._trigger(
            event.name, event.namespace, wait_deadline(self, context["ti"].start_date), owner_key=submission.owner_key
        )
        return self._finish(context, wait_with(self, trigger, context))

    def _trigger(
        self, name: str, namespace: str, deadline: float | None, owner_key: str | None, *, until_waiting: bool = False
    ) -> RayJobTrigger:
        from airflow_provider_kuberay.triggers.ray_job import RayJobTrigger

        return RayJobTrigger(
            name=name,
            namespace=namespace,
            kuberay_conn_id=self.kuberay_conn_id,
            deadline=deadline,
            resync_interval=self.resync_interval,
            stream_logs=self.stream_logs,
            log_tail_lines=self.log_tail_lines,
            cancel_on_kill=self.delete_on_kill,
            owner_key=owner_key,
            until_waiting=until_waiting,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Finish after the trigger fired, from the event alone."""
        return self._finish(context, event)

    def _finish(self, context: Context, payload: Mapping[str, Any]) -> Any:
        from airflow_provider_kuberay.tasks.failure import failure_error
        from airflow_provider_kuberay.triggers.events import Outcome, RayJobEvent

        event = RayJobEvent.from_payload(payload)
        if event.outcome is Outcome.WAITING:
            return self._submit_interactive(context, event)
        summary = {
            "name": event.name,
            "namespace": event.namespace,
            "ray_cluster_name": event.ray_cluster_name,
            "job_id": event.job_id,
            "dashboard_url": self._dashboard_url(event),
            "job_status": event.job_status,
            "job_deployment_status": event.job_deployment_status,
        }
        ti = context["ti"]
        for key, value in summary.items():
            ti.xcom_push(key=key, value=value)
        self.record_lineage(
            ray_job=event.name,
            namespace=event.namespace,
            cluster=event.ray_cluster_name,
            submission_id=event.job_id,
            dashboard_url=summary["dashboard_url"],
            status=event.job_status or event.job_deployment_status,
        )
        publish_links(self, ti, summary["dashboard_url"], summary["job_id"])
        if not event.succeeded:
            # Timed out (the task's deadline) or failed by a KubeRay deadline: the Ray job may still
            # run, so the RayJob goes (KubeRay stops its Ray job; a cluster of its own goes too).
            deadline = event.outcome is Outcome.TIMEOUT or ended_by_deadline(event)
            deleted = self.delete_on_kill and deadline and self._delete(event.name, event.namespace)
            raise failure_error(
                event, f"Deleted RayJob {event.namespace}/{event.name}: KubeRay stops its Ray job." if deleted else ""
            )
        self.log.info("RayJob %s/%s succeeded (Ray job %s)", summary["namespace"], summary["name"], summary["job_id"])
        return self._job_result(summary) if self.return_result else summary

    def _job_result(self, summary: dict[str, Any]) -> Any:
        """The value the job emitted, found by the nonce recorded in the RayJob's metadata."""
        from airflow_provider_kuberay.tasks.results import result_from_log

        rayjob = self.hook().get_object("RayJob", summary["name"], summary["namespace"])
        job = f"RayJob {summary['namespace']}/{summary['name']}"
        return result_from_log(self._job_log(summary), rayjob.get("spec", {}).get("metadata"), job)

    def _job_log(self, summary: dict[str, Any]) -> str:
        """The driver's output: the Jobs API log, else the submitter pod's log."""
        from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
        from airflow_provider_kuberay.kube_labels import JOB_NAME_LABEL

        hook = self.hook()
        try:
            endpoint = hook.dashboard_endpoint(summary["ray_cluster_name"], summary["namespace"])
            return RayDashboardHook(None, endpoint=endpoint).get_job_logs(summary["job_id"])
        except Exception as err:
            self.log.info("Reading the result through the Ray dashboard failed (%s); trying the submitter pod", err)
        pods = hook.list_pods(summary["namespace"], label_selector=f"{JOB_NAME_LABEL}={summary['name']}")
        return "\n".join(hook.read_pod_log(pod["metadata"]["name"], summary["namespace"]) for pod in pods)

    def _dashboard_url(self, event: RayJobEvent) -> str:
        if self.dashboard_link:
            return self.dashboard_link.format(cluster=event.ray_cluster_name, namespace=event.namespace)
        url = event.dashboard_url
        return url if not url or "://" in url else f"http://{url}"

    def _delete(self, name: str, namespace: str) -> bool:
        try:
            deleted = self.hook().delete_object("RayJob", name, namespace)
        except Exception as err:
            self.log.warning("Could not delete RayJob %s/%s: %s", namespace, name, err)
            return False
        if deleted:
            self.log.info("Deleted RayJob %s/%s (its own cluster goes with it)", namespace, name)
        return deleted

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume after a deferral; when Airflow fails it for its timeout, delete this task's RayJob first."""
        from airflow_provider_kuberay.tasks.adoption import delete_if_owned
        from airflow_provider_kuberay.tasks.deferral import deferral_timed_out, fail_deferral_timeout

        if not deferral_timed_out(next_method, next_kwargs):
            return super().resume_execution(next_method, next_kwargs, context)
        # Airflow raises TaskDeferralTimeout without execute_complete or on_kill: this is the only
        # chance to stop the job. Only a RayJob this task instance created is deleted.
        identity, name, namespace = self._target(context)
        text = f"RayJob {namespace}/{name} timed out: the deferral outlived its timeout before the trigger reported."
        try:
            if self.delete_on_kill and delete_if_owned(self.hook(), "RayJob", name, namespace, identity):
                text += f"\nDeleted RayJob {namespace}/{name}: KubeRay stops its Ray job."
        except Exception as err:
            text += f"\nCould not delete RayJob {namespace}/{name}: {err}"
        self.log.error(text)
        parent = super().resume_execution
        fail_deferral_timeout(lambda: parent(next_method, next_kwargs, context), text)

    def on_kill(self) -> None:
        """Delete the RayJob this task created (never an existing cluster it ran on)."""
        if self._created and self.delete_on_kill:
            self._delete(*self._created)
