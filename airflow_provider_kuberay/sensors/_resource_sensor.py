"""What the sensors on one KubeRay object share: deferring to its trigger and failing with its story."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator

from airflow_provider_kuberay.operators._deferral import default_deferrable

if TYPE_CHECKING:
    from airflow.sdk import Context


class KubeRayResourceSensor(BaseSensorOperator):
    """
    Base of the sensors that wait on one KubeRay object: ``poke`` in the worker, or (deferrable)
    one poke and then the object's trigger. A failure fails the sensor, or skips it with ``soft_fail``.

    :param namespace: namespace; the connection's by default (templated).
    :param kuberay_conn_id: id of a ``kuberay`` connection.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    """

    def __init__(
        self,
        *,
        namespace: str | None = None,
        kuberay_conn_id: str = "kuberay_default",
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.deferrable = default_deferrable(deferrable)

    def resolved_namespace(self) -> str:
        from airflow_provider_kuberay.hooks.kuberay import KubeRayHook

        return KubeRayHook(self.kuberay_conn_id).namespace_or_default(self.namespace)

    def make_trigger(self, namespace: str) -> Any:
        """The trigger that waits for what ``poke`` checks."""
        raise NotImplementedError

    def check_inputs(self) -> None:
        """Check the rendered parameters, naming them (subclasses add their own)."""
        from airflow_provider_kuberay.operators import _inputs as inputs

        inputs.namespace(self.namespace)

    def execute(self, context: Context) -> Any:
        from airflow_provider_kuberay.hooks.kuberay import KubeRayHook

        self.check_inputs()
        KubeRayHook(self.kuberay_conn_id).check_connection()
        if not self.deferrable:
            return super().execute(context)
        if not self.poke(context):
            self.defer(
                trigger=self.make_trigger(self.resolved_namespace()),
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
        from airflow.providers.common.compat.sdk import AirflowSkipException

        from airflow_provider_kuberay.exceptions import KubeRayApiError

        if self.soft_fail:
            raise AirflowSkipException(message)
        raise KubeRayApiError(message)
