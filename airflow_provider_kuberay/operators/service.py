"""Deploy (create or upgrade) a RayService and wait until the new config serves; delete one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_kuberay.lineage.operator_facets import OpenLineageFacets
from airflow_provider_kuberay.lineage.run import RayRun
from airflow_provider_kuberay.links import RayServeDashboardLink, publish_links
from airflow_provider_kuberay.tasks.deferral import default_deferrable, wait_deadline, wait_with
from airflow_provider_kuberay.tasks.inputs import check_positive

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
    from airflow_provider_kuberay.specs import ServiceSpec
    from airflow_provider_kuberay.triggers.ray_service import RayServiceTrigger

SERVE_PORT = 8000


def serve_endpoint(name: str, namespace: str) -> str:
    """The in-cluster URL of the Serve service KubeRay keeps pointed at the active cluster."""
    return f"http://{name}-serve-svc.{namespace}.svc.cluster.local:{SERVE_PORT}"


class KubeRayDeployServiceOperator(OpenLineageFacets, BaseOperator):
    """
    Create a RayService, or upgrade the existing one of that name, and wait until the new config is
    what serves: ``Ready``, no ``UpgradeInProgress``, every application of the new Serve config
    RUNNING on the active cluster, and, for a cluster-spec change, the new cluster promoted.

    The change is classified and logged: Serve config only (applications updated in place), cluster
    spec (a new cluster under the upgrade strategy), or none (a fast no-op that still checks that the
    service serves). On a timeout, ``DEPLOY_FAILED`` or a lasting ``UNHEALTHY`` the task fails with
    Serve's message and the service is left as it is (KubeRay keeps the previous version serving);
    with ``rollback_on_failure`` the spec read before the patch is applied again. Nothing here ever
    deletes a RayService, ``on_kill`` included.

    XCom (return value): ``service_name``, ``namespace``, ``active_cluster``, ``serve_endpoint``,
    ``dashboard_url``, ``strategy``, ``change``, ``generation``, ``applications`` (name -> status).

    :param service: a :class:`~airflow_provider_kuberay.specs.ServiceSpec`, or a raw RayService body
        (dict, YAML text or a ``.yaml``/``.json`` file) (templated).
    :param serve_config: a Serve config (dict, YAML text or a ``.yaml``/``.json`` file, templated) that
        replaces the spec's ``serveConfigV2``: the usual thing to change from run to run.
    :param service_name: the RayService's name; else the raw body's, else derived from dag_id and
        task_id (not the run: every run upgrades the same service) (templated).
    :param namespace: namespace; the connection's by default (templated).
    :param kuberay_conn_id: id of a ``kuberay`` connection.
    :param labels: extra labels of the RayService (templated).
    :param overrides: raw dict / YAML text / file merged on top of the built body (templated).
    :param wait_until_serving: wait until the new config serves.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param rollback_on_failure: on failure of an upgrade, re-apply the spec read before the patch.
    :param unhealthy_grace: seconds an application may stay UNHEALTHY before the task fails.
    :param settle_seconds: after an in-place Serve-config change, how long serving must still hold
        once reported (Serve applies a new config in its next control loop, KubeRay reports it at its
        next reconcile, every 2 s by default).
    :param resync_interval: seconds between re-reads besides the shared watch.
    """

    template_fields: Sequence[str] = ("service", "serve_config", "service_name", "namespace", "labels", "overrides")
    template_ext: Sequence[str] = (".yaml", ".yml", ".json")
    template_fields_renderers = {"service": "yaml", "serve_config": "yaml", "overrides": "yaml"}
    operator_extra_links = (RayServeDashboardLink(),)

    def __init__(
        self,
        *,
        service: ServiceSpec | Mapping[str, Any] | str,
        serve_config: Mapping[str, Any] | str | None = None,
        service_name: str | None = None,
        namespace: str | None = None,
        kuberay_conn_id: str = "kuberay_default",
        labels: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | str | None = None,
        wait_until_serving: bool = True,
        deferrable: bool | None = None,
        rollback_on_failure: bool = False,
        unhealthy_grace: float = 60.0,
        settle_seconds: float = 5.0,
        resync_interval: float = 15.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_positive("resync_interval", resync_interval)
        check_positive("unhealthy_grace", unhealthy_grace, allow_zero=True)
        check_positive("settle_seconds", settle_seconds, allow_zero=True)
        self.service = service
        self.serve_config = serve_config
        self.service_name = service_name
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.labels = labels
        self.overrides = overrides
        self.wait_until_serving = wait_until_serving
        self.deferrable = default_deferrable(deferrable)
        self.rollback_on_failure = rollback_on_failure
        self.unhealthy_grace = unhealthy_grace
        self.settle_seconds = settle_seconds
        self.resync_interval = resync_interval

    def hook(self) -> KubeRayHook:
        from airflow_provider_kuberay.hooks.kuberay import KubeRayHook

        return KubeRayHook(self.kuberay_conn_id)

    def build_body(self, derived_name: str, namespace: str) -> dict[str, Any]:
        """The RayService body (built, or the user's raw one), validated before any API call."""
        from airflow_provider_kuberay.specs import (
            ServiceSpec,
            deep_merge,
            load_overrides,
            normalize_body,
            ray_service_body,
        )
        from airflow_provider_kuberay.specs.raw import load_documents
        from airflow_provider_kuberay.specs.service import serve_config_yaml
        from airflow_provider_kuberay.tasks import inputs

        if isinstance(self.service, ServiceSpec):
            body = ray_service_body(
                self.service_name or derived_name, self.service, namespace=namespace, labels=self.labels
            )
        else:
            source = self.service
            if isinstance(source, Mapping) and "kind" not in source:
                # A bare dict is a RayService: the kind need not be spelled out.
                source = {"apiVersion": "ray.io/v1", "kind": "RayService", **source}
            try:
                documents = load_documents(source)
            except ValueError as err:
                raise inputs.renamed_spec_error(err, "service") from None
            own_names = [d.get("metadata", {}).get("name") for d in documents if d.get("kind") in (None, "RayService")]
            name = self.service_name or next((n for n in own_names if n), None) or derived_name
            body = normalize_body(source, kind="RayService", name=name, namespace=namespace)
            if self.labels:
                body = deep_merge(body, {"metadata": {"labels": dict(self.labels)}})
        if self.serve_config is not None:
            try:
                body["spec"]["serveConfigV2"] = serve_config_yaml(_load_serve_config(self.serve_config))
            except ValueError as err:
                raise inputs.renamed_spec_error(err, "serve_config") from None
        if self.overrides:
            body = deep_merge(body, load_overrides(self.overrides))
        return normalize_body(body, kind="RayService")

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_kuberay.operators import _service_change as change_of
        from airflow_provider_kuberay.status.service import service_progress
        from airflow_provider_kuberay.tasks import inputs
        from airflow_provider_kuberay.tasks.identity import TaskIdentity

        inputs.optional_resource_name(self.service_name or None, "service_name", "RayService")
        inputs.namespace(self.namespace)
        inputs.string_map(self.labels, "labels")
        identity = TaskIdentity.from_context(context)
        hook = self.hook()
        hook.check_connection()
        namespace = hook.namespace_or_default(self.namespace)
        # One RayService per task, not per run: every run upgrades the same service.
        body = self.build_body(identity.resource_name("RayService", per_run=False), namespace)
        name, spec = body["metadata"]["name"], body["spec"]
        strategy = change_of.upgrade_strategy(spec)
        annotations = {change_of.CLUSTER_HASH: change_of.content_hash(spec.get("rayClusterConfig"))}
        current = hook.find_object("RayService", name, namespace)
        previous_spec: dict[str, Any] | None = None
        replaced_cluster: str | None = None
        if current is None:
            body["metadata"].setdefault("labels", {}).update({**identity.labels(), **(self.labels or {})})
            body["metadata"].setdefault("annotations", {}).update(annotations)
            created = hook.create_object("RayService", body, namespace)
            change, generation = change_of.CREATED, created["metadata"].get("generation")
            self.log.info("Created RayService %s/%s (upgrade strategy %s)", namespace, name, strategy)
        else:
            active = service_progress(current).active.cluster_name
            change = change_of.classify_change(current, spec)
            self.log.info("RayService %s/%s: %s", namespace, name, change_of.describe_change(change, strategy, active))
            generation = current["metadata"].get("generation")
            if change != change_of.UNCHANGED:
                previous_spec = current.get("spec") or {}
                patch: dict[str, Any] = {
                    "metadata": {"annotations": annotations, "labels": dict(self.labels or {})},
                    "spec": change_of.merge_patch(previous_spec, spec),
                }
                patched = hook.patch_object("RayService", name, patch, namespace)
                generation = patched["metadata"].get("generation")
                self.log.info("Patched RayService %s/%s to generation %s", namespace, name, generation)
            if change == change_of.CLUSTER and strategy != "None" and active:
                replaced_cluster = active
        summary = {"service_name": name, "namespace": namespace, "strategy": strategy, "change": change}
        self.record_lineage(service=name, namespace=namespace, service_version=generation)
        for key in ("service_name", "namespace", "strategy", "change"):
            context["ti"].xcom_push(key=key, value=summary[key])
        if not self.wait_until_serving:
            return {**summary, "generation": generation, "serve_endpoint": serve_endpoint(name, namespace)}
        trigger = self._trigger(
            name,
            namespace,
            deadline=wait_deadline(self, context["ti"].start_date),
            generation=generation,
            applications=change_of.serve_application_names(spec),
            replaced_cluster=replaced_cluster,
            settle_seconds=self.settle_seconds if change in (change_of.SERVE_CONFIG, change_of.OTHER) else 0.0,
            # The previous spec travels with the trigger only when a rollback may need it.
            carry={**summary, "previous_spec": previous_spec if self.rollback_on_failure else None},
        )
        return self._finish(context, wait_with(self, trigger, context))

    def lineage_plan(self) -> RayRun:
        """The RayService this task deploys, when named (a derived or raw-body name is known once the task ran)."""
        return RayRun(service=self.service_name or None, namespace=self.namespace or None)

    def _trigger(self, name: str, namespace: str, **options: Any) -> RayServiceTrigger:
        from airflow_provider_kuberay.triggers.ray_service import RayServiceTrigger

        return RayServiceTrigger(
            name=name,
            namespace=namespace,
            kuberay_conn_id=self.kuberay_conn_id,
            resync_interval=self.resync_interval,
            unhealthy_grace=self.unhealthy_grace,
            **options,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Finish after the trigger fired, from the event alone."""
        return self._finish(context, event)

    def _finish(self, context: Context, payload: Mapping[str, Any]) -> dict[str, Any]:
        from airflow_provider_kuberay.tasks.failure import failure_error
        from airflow_provider_kuberay.triggers.events import ServiceEvent

        event = ServiceEvent.from_payload(payload)
        carry = event.carry
        name, namespace = event.name, event.namespace
        hook = self.hook()
        if not event.succeeded:
            if self.rollback_on_failure and carry.get("previous_spec"):
                raise failure_error(event, self._roll_back(hook, name, namespace, carry["previous_spec"]))
            raise failure_error(event, "The RayService was left as it is; KubeRay keeps the previous version serving.")
        active = event.active_cluster
        dashboard_url = hook.dashboard_endpoint(active, namespace).url if active else ""
        result = {
            "service_name": name,
            "namespace": namespace,
            "active_cluster": active,
            "serve_endpoint": serve_endpoint(name, namespace),
            "dashboard_url": dashboard_url,
            "strategy": carry.get("strategy", ""),
            "change": carry.get("change", ""),
            "generation": event.generation,
            "applications": event.applications,
        }
        for key in ("active_cluster", "serve_endpoint", "applications"):
            context["ti"].xcom_push(key=key, value=result[key])
        self.record_lineage(
            service=name,
            namespace=namespace,
            service_version=event.generation,
            cluster=active,
            dashboard_url=dashboard_url,
            status="serving",
        )
        publish_links(self, context["ti"], dashboard_url)
        self.log.info(
            "RayService %s/%s serves generation %s on %s: %s",
            namespace,
            name,
            result["generation"],
            active,
            ", ".join(f"{app}={status}" for app, status in result["applications"].items()),
        )
        return result

    def _roll_back(self, hook: KubeRayHook, name: str, namespace: str, previous_spec: dict[str, Any]) -> str:
        from airflow_provider_kuberay.exceptions import KubeRayApiError
        from airflow_provider_kuberay.operators import _service_change as change_of

        try:
            current = hook.get_object("RayService", name, namespace)
            patch = {
                "metadata": {
                    "annotations": {
                        change_of.CLUSTER_HASH: change_of.content_hash(previous_spec.get("rayClusterConfig"))
                    }
                },
                "spec": change_of.merge_patch(current.get("spec") or {}, previous_spec),
            }
            patched = hook.patch_object("RayService", name, patch, namespace)
        except KubeRayApiError as err:
            return f"Rolling back to the previous spec failed: {err}"
        generation = patched["metadata"].get("generation")
        self.log.warning(
            "Rolled RayService %s/%s back to its previous spec (generation %s)", namespace, name, generation
        )
        return f"Rolled back to the previous spec (generation {generation}); KubeRay is reconciling it."

    def on_kill(self) -> None:
        # A serving RayService is never deleted or changed because a task was killed.
        self.log.info("Task killed; the RayService is left as it is")


def _load_serve_config(value: Mapping[str, Any] | str) -> Mapping[str, Any] | str:
    """A Serve config given as a mapping, YAML text, or the path of a YAML/JSON file."""
    from pathlib import Path

    if isinstance(value, str) and "\n" not in value and value.strip().endswith((".yaml", ".yml", ".json")):
        return Path(value.strip()).expanduser().read_text()
    return value


class KubeRayDeleteServiceOperator(BaseOperator):
    """
    Delete a RayService (KubeRay then deletes its clusters) and wait until it is gone. Deleting a
    service that does not exist succeeds (idempotent, so retries are safe).

    :param service_name: the RayService to delete (templated).
    :param namespace: namespace; the connection's by default (templated).
    :param kuberay_conn_id: id of a ``kuberay`` connection.
    :param wait_for_deletion: wait until the RayService is gone.
    :param timeout_seconds: how long to wait.
    """

    template_fields: Sequence[str] = ("service_name", "namespace")

    def __init__(
        self,
        *,
        service_name: str,
        namespace: str | None = None,
        kuberay_conn_id: str = "kuberay_default",
        wait_for_deletion: bool = True,
        timeout_seconds: float = 600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_positive("timeout_seconds", timeout_seconds)
        self.service_name = service_name
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.wait_for_deletion = wait_for_deletion
        self.timeout_seconds = timeout_seconds

    def execute(self, context: Context) -> bool:
        from airflow_provider_kuberay.tasks.adoption import delete_named

        existed, _, namespace = delete_named(
            self.kuberay_conn_id, "RayService", self.service_name, "service_name", self.namespace,
            log=self.log.info, wait=self.wait_for_deletion, timeout=self.timeout_seconds,
        )  # fmt: skip
        if self.wait_for_deletion:
            self.log.info("RayService %s/%s is gone", namespace, self.service_name)
        return existed
