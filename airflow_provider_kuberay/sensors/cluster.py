"""Sensor that waits until a RayCluster is ready."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator

from airflow_provider_kuberay.operators._deferral import default_deferrable

if TYPE_CHECKING:
    from airflow.sdk import Context


class KubeRayClusterSensor(BaseSensorOperator):
    """
    Wait until a RayCluster is ready. A cluster that KubeRay reports as failed (or that is gone)
    fails the sensor with its reason and recent events.

    :param cluster_name: the RayCluster (templated).
    :param namespace: namespace; the connection's by default (templated).
    :param kuberay_conn_id: id of a ``kuberay`` connection.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = ("cluster_name", "namespace")

    def __init__(
        self,
        *,
        cluster_name: str,
        namespace: str | None = None,
        kuberay_conn_id: str = "kuberay_default",
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_name = cluster_name
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.deferrable = default_deferrable(deferrable)

    def poke(self, context: Context) -> bool:
        from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
        from airflow_provider_kuberay.status import cluster_verdict

        hook = KubeRayHook(self.kuberay_conn_id)
        namespace = hook.namespace_or_default(self.namespace)
        verdict = cluster_verdict(hook.get_object("RayCluster", self.cluster_name, namespace))
        self.log.info("RayCluster %s/%s: %s", namespace, self.cluster_name, verdict.describe())
        if verdict.failed:
            self._fail(f"RayCluster {namespace}/{self.cluster_name} failed: {verdict.describe()}")
        return verdict.ready

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
        from airflow_provider_kuberay.triggers.ray_cluster import RayClusterReadyTrigger

        if not self.poke(context):
            self.defer(
                trigger=RayClusterReadyTrigger(
                    name=self.cluster_name,
                    namespace=KubeRayHook(self.kuberay_conn_id).namespace_or_default(self.namespace),
                    kuberay_conn_id=self.kuberay_conn_id,
                    resync_interval=self.poke_interval,
                    fail_fast=False,
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
