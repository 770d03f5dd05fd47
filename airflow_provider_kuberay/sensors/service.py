"""Sensor that waits until a RayService serves (optionally a given generation of its spec)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator

from airflow_provider_kuberay.operators._deferral import default_deferrable

if TYPE_CHECKING:
    from airflow.sdk import Context


class KubeRayServiceSensor(BaseSensorOperator):
    """
    Wait until a RayService serves: ``Ready``, no upgrade in progress, every application RUNNING on
    the active cluster, and, when given, ``generation`` observed (the config version a deploy task
    produced; its XCom ``generation``) and ``applications`` running. ``DEPLOY_FAILED`` or KubeRay's
    terminal reasons fail the sensor with Serve's message.

    :param service_name: the RayService (templated).
    :param namespace: namespace; the connection's by default (templated).
    :param generation: the ``metadata.generation`` that must be served (templated; None: the current).
    :param applications: application names that must be RUNNING (templated).
    :param kuberay_conn_id: id of a ``kuberay`` connection.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = ("service_name", "namespace", "generation", "applications")

    def __init__(
        self,
        *,
        service_name: str,
        namespace: str | None = None,
        generation: int | str | None = None,
        applications: Sequence[str] = (),
        kuberay_conn_id: str = "kuberay_default",
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.service_name = service_name
        self.namespace = namespace
        self.generation = generation
        self.applications = applications
        self.kuberay_conn_id = kuberay_conn_id
        self.deferrable = default_deferrable(deferrable)

    def _generation(self) -> int | None:
        # Templated from XCom it arrives as text.
        return None if self.generation in (None, "", "None") else int(self.generation)

    def poke(self, context: Context) -> bool:
        from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
        from airflow_provider_kuberay.triggers.ray_service import check_serving

        hook = KubeRayHook(self.kuberay_conn_id)
        namespace = hook.namespace_or_default(self.namespace)
        obj = hook.get_object("RayService", self.service_name, namespace)
        check = check_serving(obj, generation=self._generation(), applications=list(self.applications))
        self.log.info("RayService %s/%s: %s", namespace, self.service_name, check.progress)
        if check.failed:
            self._fail(f"RayService {namespace}/{self.service_name} failed ({check.reason}): {check.message}")
        return check.serving

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
        from airflow_provider_kuberay.triggers.ray_service import RayServiceTrigger

        if not self.poke(context):
            self.defer(
                trigger=RayServiceTrigger(
                    name=self.service_name,
                    namespace=KubeRayHook(self.kuberay_conn_id).namespace_or_default(self.namespace),
                    kuberay_conn_id=self.kuberay_conn_id,
                    resync_interval=self.poke_interval,
                    generation=self._generation(),
                    applications=list(self.applications),
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.timeout),
            )
        return None

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        """Judge the trigger's event."""
        from airflow_provider_kuberay.operators._kube_task import failure_text

        if event.get("outcome") != "succeeded":
            self._fail(failure_text(event))

    def _fail(self, message: str) -> None:
        from airflow.sdk.exceptions import AirflowSkipException

        from airflow_provider_kuberay.exceptions import KubeRayApiError

        if self.soft_fail:
            raise AirflowSkipException(message)
        raise KubeRayApiError(message)
