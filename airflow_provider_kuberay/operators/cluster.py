"""Create (or adopt) a RayCluster and wait until it is ready; delete one and wait until it is gone."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_kuberay.kube_labels import CLUSTER_LABEL
from airflow_provider_kuberay.lineage.operator_facets import OpenLineageFacets
from airflow_provider_kuberay.lineage.run import RayRun
from airflow_provider_kuberay.links import RayClusterDashboardLink, publish_links
from airflow_provider_kuberay.tasks.cluster_lifecycle import check_if_exists, ttl_seconds
from airflow_provider_kuberay.tasks.deferral import default_deferrable, wait_deadline, wait_with
from airflow_provider_kuberay.tasks.inputs import check_positive

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
    from airflow_provider_kuberay.specs import ClusterSpec
    from airflow_provider_kuberay.tasks.identity import TaskIdentity
    from airflow_provider_kuberay.triggers.ray_cluster import RayClusterReadyTrigger


class KubeRayCreateClusterOperator(OpenLineageFacets, BaseOperator):
    """
    Create a RayCluster, or adopt the one an earlier attempt of this task created, and wait until
    it is ready. Fails fast, with the cluster's events, when KubeRay reports ``ReplicaFailure`` or
    its pods stay unschedulable; the cluster this task created is then deleted
    (``delete_on_failure``), an adopted, reused or pre-existing one never is.

    A cluster of the same name made by another task instance (e.g. the same task in an earlier DAG
    run, with a fixed ``cluster_name``) is handled by ``if_exists``. Every cluster it creates carries
    a spec-hash label, so a later run can tell whether it may reuse it; with ``cluster_ttl``, also
    its expiry and the DAG run that made it (annotations), which
    :class:`KubeRayDeleteExpiredClustersOperator` reads to decide whether it may delete it.

    XCom (return value): ``cluster_name``, ``namespace``, ``dashboard_url``.

    :param cluster: a :class:`~airflow_provider_kuberay.specs.ClusterSpec`, or a raw RayCluster body
        (dict, YAML text or a ``.yaml``/``.json`` file) for the raw-spec path (templated).
    :param cluster_name: the RayCluster's name; derived from the task instance if not given (templated).
    :param namespace: namespace; the connection's by default (templated).
    :param kuberay_conn_id: id of a ``kuberay`` connection.
    :param labels: extra labels of the RayCluster (templated).
    :param annotations: extra annotations of the RayCluster (templated).
    :param queue_name: the Kueue LocalQueue to queue the cluster in (label ``kueue.x-k8s.io/queue-name``);
        the RayCluster is created suspended and starts once Kueue admits it (templated).
    :param priority_class: the Kueue WorkloadPriorityClass (label ``kueue.x-k8s.io/priority-class``;
        templated).
    :param overrides: raw dict / YAML text / file merged on top of a built body (templated).
    :param wait_until_ready: wait for the ready condition.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param fail_fast: fail on ReplicaFailure or unschedulable pods instead of waiting.
    :param unschedulable_grace: seconds pods may stay unschedulable (e.g. for a node autoscaler).
    :param resync_interval: seconds between re-reads besides the shared watch.
    :param delete_on_failure: delete the cluster this task created if it never became ready: it failed,
        timed out, or the task was killed while waiting (deferred: a user marked it failed or succeeded
        or cleared it, Airflow 3.3+ calls the trigger's ``on_kill``). Never a cluster this task did not create.
    :param if_exists: what to do with an existing cluster of this name that this task instance did
        not create: ``"fail"`` (default), ``"reuse"`` it when its spec is the same as this task's (its
        spec-hash label; a different spec fails, naming the cluster), or ``"replace"`` it (delete and
        create again; only a cluster this provider created). A cluster being deleted is waited for
        and created again under ``reuse`` and ``replace``.
    :param cluster_ttl: a time to live (``timedelta`` or seconds): the cluster gets an expiry
        annotation and its DAG run's ids, and a :class:`KubeRayDeleteExpiredClustersOperator` deletes
        it once expired and its DAG run has ended. A reuse with a ``cluster_ttl`` renews it and
        records the reusing run. ``None`` (default): no expiry, no annotations.
    """

    template_fields: Sequence[str] = (
        "cluster",
        "cluster_name",
        "namespace",
        "labels",
        "annotations",
        "queue_name",
        "priority_class",
        "overrides",
    )
    template_ext: Sequence[str] = (".yaml", ".yml", ".json")
    template_fields_renderers = {"cluster": "yaml", "overrides": "yaml"}
    operator_extra_links = (RayClusterDashboardLink(),)

    def __init__(
        self,
        *,
        cluster: ClusterSpec | Mapping[str, Any] | str,
        cluster_name: str | None = None,
        namespace: str | None = None,
        kuberay_conn_id: str = "kuberay_default",
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        queue_name: str | None = None,
        priority_class: str | None = None,
        overrides: Mapping[str, Any] | str | None = None,
        wait_until_ready: bool = True,
        deferrable: bool | None = None,
        fail_fast: bool = True,
        unschedulable_grace: float = 120.0,
        resync_interval: float = 15.0,
        delete_on_failure: bool = True,
        if_exists: str = "fail",
        cluster_ttl: timedelta | float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.if_exists = check_if_exists(if_exists)
        self.cluster_ttl = ttl_seconds(cluster_ttl)
        check_positive("resync_interval", resync_interval)
        check_positive("unschedulable_grace", unschedulable_grace, allow_zero=True)
        self.cluster = cluster
        self.cluster_name = cluster_name
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.labels = labels
        self.annotations = annotations
        self.queue_name = queue_name
        self.priority_class = priority_class
        self.overrides = overrides
        self.wait_until_ready = wait_until_ready
        self.deferrable = default_deferrable(deferrable)
        self.fail_fast = fail_fast
        self.unschedulable_grace = unschedulable_grace
        self.resync_interval = resync_interval
        self.delete_on_failure = delete_on_failure
        # The cluster being waited for, only for on_kill within the same process; never read after a deferral.
        self._waiting: tuple[TaskIdentity, str, str] | None = None

    def hook(self) -> KubeRayHook:
        from airflow_provider_kuberay.hooks.kuberay import KubeRayHook

        return KubeRayHook(self.kuberay_conn_id)

    def build_body(self, derived_name: str, namespace: str, labels: Mapping[str, str]) -> dict[str, Any]:
        """
        The RayCluster body (built, or the user's raw one), validated before any API call. Its name
        is ``cluster_name``, else the raw body's own, else ``derived_name``.
        """
        from airflow_provider_kuberay.specs import (
            ClusterSpec,
            deep_merge,
            load_overrides,
            normalize_body,
            ray_cluster_body,
        )
        from airflow_provider_kuberay.specs.raw import load_documents
        from airflow_provider_kuberay.tasks import inputs
        from airflow_provider_kuberay.tasks.object_metadata import object_metadata

        meta = object_metadata(self.labels, self.annotations, self.queue_name, self.priority_class)
        all_labels = {**labels, **meta.labels}
        if isinstance(self.cluster, ClusterSpec):
            name = self.cluster_name or derived_name
            cluster = dataclasses.replace(self.cluster, suspend=True) if meta.suspend else self.cluster
            return ray_cluster_body(
                name,
                cluster,
                namespace=namespace,
                labels=all_labels,
                annotations=meta.annotations,
                overrides=self.overrides,
            )
        try:
            documents = load_documents(self.cluster)
        except ValueError as err:
            raise inputs.renamed_spec_error(err, "cluster") from None
        own_names = [d.get("metadata", {}).get("name") for d in documents if d.get("kind") == "RayCluster"]
        name = self.cluster_name or next((n for n in own_names if n), None) or derived_name
        body = normalize_body(self.cluster, kind="RayCluster", name=name, namespace=namespace)
        body = deep_merge(body, {"metadata": {"labels": all_labels, "annotations": meta.annotations}})
        if meta.suspend:
            body = deep_merge(body, {"spec": {"suspend": True}})
        if self.overrides:
            body = deep_merge(body, load_overrides(self.overrides))
        return normalize_body(body, kind="RayCluster")

    def _target(self, context: Context) -> tuple[TaskIdentity, dict[str, Any]]:
        """The task instance, and the RayCluster body it creates (named, validated, not yet stamped)."""
        from airflow_provider_kuberay.tasks import inputs
        from airflow_provider_kuberay.tasks.identity import TaskIdentity
        from airflow_provider_kuberay.tasks.object_metadata import object_metadata

        inputs.optional_resource_name(self.cluster_name or None, "cluster_name", "RayCluster")
        inputs.namespace(self.namespace)
        object_metadata(self.labels, self.annotations, self.queue_name, self.priority_class)
        identity = TaskIdentity.from_context(context)
        hook = self.hook()
        hook.check_connection()
        namespace = hook.namespace_or_default(self.namespace)
        return identity, self.build_body(identity.resource_name("RayCluster"), namespace, identity.labels())

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_kuberay.tasks.adoption import create_or_adopt
        from airflow_provider_kuberay.tasks.cluster_lifecycle import run_annotations, stamped
        from airflow_provider_kuberay.tasks.existing_cluster import apply_policy

        identity, body = self._target(context)
        hook = self.hook()
        name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
        annotations = run_annotations(identity.dag_id, identity.run_id, self.cluster_ttl, datetime.now(timezone.utc))
        body = stamped(body, annotations)
        _, message = create_or_adopt(
            hook,
            "RayCluster",
            body,
            identity,
            replace_if=lambda obj: False,
            if_foreign=lambda existing: apply_policy(hook, self.if_exists, body, existing, annotations),
        )
        self.log.info(message)
        context["ti"].xcom_push(key="cluster_name", value=name)
        context["ti"].xcom_push(key="namespace", value=namespace)
        self.record_lineage(cluster=name, namespace=namespace)
        if not self.wait_until_ready:
            return {"cluster_name": name, "namespace": namespace, "dashboard_url": ""}
        trigger = self._trigger(name, namespace, wait_deadline(self, context["ti"].start_date), owner_key=identity.key)
        self._waiting = (identity, name, namespace)
        # Kept when the wait raises: Airflow calls on_kill after execution_timeout's exception left execute.
        result = self._finish(context, wait_with(self, trigger, context))
        self._waiting = None
        return result

    def lineage_plan(self) -> RayRun:
        """The RayCluster this task creates (its derived name is known once the task ran)."""
        return RayRun(cluster=self.cluster_name or None, namespace=self.namespace or None)

    def _trigger(
        self, name: str, namespace: str, deadline: float | None, owner_key: str | None
    ) -> RayClusterReadyTrigger:
        from airflow_provider_kuberay.triggers.ray_cluster import RayClusterReadyTrigger

        return RayClusterReadyTrigger(
            name=name,
            namespace=namespace,
            kuberay_conn_id=self.kuberay_conn_id,
            deadline=deadline,
            resync_interval=self.resync_interval,
            fail_fast=self.fail_fast,
            unschedulable_grace=self.unschedulable_grace,
            # Killed while deferred (mark failed, clear): the trigger deletes the unready cluster, if this task's.
            cancel_on_kill=self.delete_on_failure,
            owner_key=owner_key,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Finish after the trigger fired, from the event alone."""
        return self._finish(context, event)

    def _finish(self, context: Context, payload: Mapping[str, Any]) -> dict[str, Any]:
        from airflow_provider_kuberay.exceptions import KubeRayApiError
        from airflow_provider_kuberay.tasks.failure import failure_error
        from airflow_provider_kuberay.tasks.identity import TaskIdentity
        from airflow_provider_kuberay.triggers.events import ClusterEvent

        event = ClusterEvent.from_payload(payload)
        name, namespace = event.name, event.namespace
        hook = self.hook()
        if not event.succeeded:
            if self.delete_on_failure:
                try:
                    existing = hook.find_object("RayCluster", name, namespace)
                    if existing is not None and TaskIdentity.from_context(context).owns(existing):
                        hook.delete_object("RayCluster", name, namespace)
                        self.log.info("Deleted RayCluster %s/%s, which this task created", namespace, name)
                except KubeRayApiError as err:
                    # The clean-up's own trouble (often the very API failure that ended the wait) must
                    # not replace why the task failed; a retry adopts the cluster and decides again.
                    self.log.warning("Could not delete RayCluster %s/%s: %s", namespace, name, err)
            raise failure_error(event)
        dashboard_url = hook.dashboard_endpoint(name, namespace).url
        publish_links(self, context["ti"], dashboard_url)
        self.record_lineage(cluster=name, namespace=namespace, dashboard_url=dashboard_url, status="ready")
        self.log.info("RayCluster %s/%s is ready; dashboard: %s", namespace, name, dashboard_url)
        return {"cluster_name": name, "namespace": namespace, "dashboard_url": dashboard_url}

    def _delete_unready(self, identity: TaskIdentity, name: str, namespace: str, why: str) -> str:
        """Delete the cluster if this task instance created it; a sentence saying what happened."""
        from airflow_provider_kuberay.tasks.adoption import delete_if_owned

        try:
            if not delete_if_owned(self.hook(), "RayCluster", name, namespace, identity):
                return f"RayCluster {namespace}/{name} was left alone: this task did not create it."
        except Exception as err:
            self.log.warning("%s; could not delete RayCluster %s/%s: %s", why, namespace, name, err)
            return f"Could not delete RayCluster {namespace}/{name}: {err}"
        self.log.info("%s: deleted RayCluster %s/%s, which this task created", why, namespace, name)
        return f"Deleted RayCluster {namespace}/{name}, which this task created."

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume after a deferral; when Airflow fails it for its timeout, delete this task's unready cluster first."""
        from airflow_provider_kuberay.tasks.deferral import deferral_timed_out, fail_deferral_timeout

        if not deferral_timed_out(next_method, next_kwargs):
            return super().resume_execution(next_method, next_kwargs, context)
        # Airflow raises TaskDeferralTimeout without execute_complete or on_kill.
        identity, body = self._target(context)
        name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
        text = f"RayCluster {namespace}/{name} timed out: not ready before the deferral's timeout."
        if self.delete_on_failure:
            text += "\n" + self._delete_unready(identity, name, namespace, "Deferral timed out")
        self.log.error(text)
        parent = super().resume_execution
        fail_deferral_timeout(lambda: parent(next_method, next_kwargs, context), text)

    def on_kill(self) -> None:
        """Delete the cluster this task created if it is killed (or times out) before the cluster is ready."""
        if self._waiting is not None and self.delete_on_failure:
            self._delete_unready(*self._waiting, "Task killed before the cluster was ready")


class KubeRayDeleteClusterOperator(BaseOperator):
    """
    Delete a RayCluster and wait until it and its pods are gone. Deleting a cluster that does not
    exist succeeds (idempotent, so retries are safe).

    :param cluster_name: the RayCluster to delete (templated).
    :param namespace: namespace; the connection's by default (templated).
    :param kuberay_conn_id: id of a ``kuberay`` connection.
    :param wait_for_deletion: wait until the cluster and its pods are gone.
    :param poll_interval: seconds between checks while waiting.
    :param timeout_seconds: how long to wait for the pods to go.
    """

    template_fields: Sequence[str] = ("cluster_name", "namespace")

    def __init__(
        self,
        *,
        cluster_name: str,
        namespace: str | None = None,
        kuberay_conn_id: str = "kuberay_default",
        wait_for_deletion: bool = True,
        poll_interval: float = 2.0,
        timeout_seconds: float = 600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_positive("poll_interval", poll_interval)
        check_positive("timeout_seconds", timeout_seconds)
        self.cluster_name = cluster_name
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.wait_for_deletion = wait_for_deletion
        self.poll_interval = poll_interval
        self.timeout_seconds = timeout_seconds

    def execute(self, context: Context) -> bool:
        from airflow_provider_kuberay.tasks.adoption import delete_named

        deadline = time.monotonic() + self.timeout_seconds
        existed, hook, namespace = delete_named(
            self.kuberay_conn_id, "RayCluster", self.cluster_name, "cluster_name", self.namespace,
            log=self.log.info, wait=self.wait_for_deletion, timeout=self.timeout_seconds,
        )  # fmt: skip
        if not self.wait_for_deletion:
            return existed
        selector = f"{CLUSTER_LABEL}={self.cluster_name}"
        while pods := hook.list_pods(namespace, label_selector=selector):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"pods of RayCluster {namespace}/{self.cluster_name} still exist: "
                    + ", ".join(p["metadata"]["name"] for p in pods)
                )
            time.sleep(self.poll_interval)
        self.log.info("RayCluster %s/%s and its pods are gone", namespace, self.cluster_name)
        return existed
