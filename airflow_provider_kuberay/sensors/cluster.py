"""Sensor that waits until a RayCluster is ready."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_kuberay.sensors._resource_sensor import KubeRayResourceSensor

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_kuberay.triggers.ray_cluster import RayClusterReadyTrigger


class KubeRayClusterSensor(KubeRayResourceSensor):
    """
    Wait until a RayCluster is ready. A cluster that KubeRay reports as failed (or that is gone)
    fails the sensor with its reason and recent events.

    :param cluster_name: the RayCluster (templated).
    :param namespace: namespace; the connection's by default (templated).
    :param kuberay_conn_id: id of a ``kuberay`` connection.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = ("cluster_name", "namespace")

    def __init__(self, *, cluster_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cluster_name = cluster_name

    def check_inputs(self) -> None:
        from airflow_provider_kuberay.tasks import inputs

        super().check_inputs()
        inputs.resource_name(self.cluster_name, "cluster_name", "RayCluster")

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

    def make_trigger(self, namespace: str) -> RayClusterReadyTrigger:
        from airflow_provider_kuberay.triggers.ray_cluster import RayClusterReadyTrigger

        return RayClusterReadyTrigger(
            name=self.cluster_name,
            namespace=namespace,
            kuberay_conn_id=self.kuberay_conn_id,
            resync_interval=self.poke_interval,
            fail_fast=False,
        )
