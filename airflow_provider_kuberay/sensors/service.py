"""Sensor that waits until a RayService serves (optionally a given generation of its spec)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_kuberay.sensors._resource_sensor import KubeRayResourceSensor

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_kuberay.triggers.ray_service import RayServiceTrigger


class KubeRayServiceSensor(KubeRayResourceSensor):
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
        generation: int | str | None = None,
        applications: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.service_name = service_name
        self.generation = generation
        self.applications = applications

    def _generation(self) -> int | None:
        from airflow_provider_kuberay.tasks import inputs

        # Templated from XCom it arrives as text.
        return inputs.optional_int(self.generation, "generation")

    def check_inputs(self) -> None:
        from airflow_provider_kuberay.tasks import inputs

        super().check_inputs()
        inputs.resource_name(self.service_name, "service_name", "RayService")
        self._generation()
        inputs.string_list(self.applications, "applications")

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

    def make_trigger(self, namespace: str) -> RayServiceTrigger:
        from airflow_provider_kuberay.triggers.ray_service import RayServiceTrigger

        return RayServiceTrigger(
            name=self.service_name,
            namespace=namespace,
            kuberay_conn_id=self.kuberay_conn_id,
            resync_interval=self.poke_interval,
            generation=self._generation(),
            applications=list(self.applications),
        )
