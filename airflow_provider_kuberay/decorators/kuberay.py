"""``@task.kuberay``: run a Python function as a KubeRay RayJob and return its value."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.decorator import task_decorator_factory

from airflow_provider_kuberay.decorators._function_job import (
    FunctionJobOperator,
    function_template_fields,
    function_template_renderers,
)
from airflow_provider_kuberay.operators.run_job import KubeRayRunJobOperator

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.bases.decorator import TaskDecorator


class KubeRayDecoratedOperator(FunctionJobOperator, KubeRayRunJobOperator):
    """
    Run the decorated function on Ray as a RayJob (all :class:`KubeRayRunJobOperator` parameters
    apply) and push its return value to XCom. The function must import what it uses inside its
    body, take and return JSON-serializable values, and be defined with ``def``.
    """

    custom_operator_name = "@task.kuberay"
    template_fields: Sequence[str] = function_template_fields(KubeRayRunJobOperator.template_fields)
    template_fields_renderers = function_template_renderers(KubeRayRunJobOperator.template_fields_renderers)

    def execute(self, context: Context) -> Any:
        from airflow_provider_kuberay.decorators.callable_payload import INLINE_LIMIT_CHARS, CallPayload, shipped

        payload = CallPayload.build(self.python_callable, list(self.op_args), self.op_kwargs)
        with shipped(payload, self.runtime_env) as (self.entrypoint, runtime_env):
            if payload.inline_entrypoint() is None:
                if not self.cluster_name:
                    raise ValueError(
                        f"the arguments of {payload.name!r} do not fit in a RayJob entrypoint (over "
                        f"{INLINE_LIMIT_CHARS} characters) and a new cluster cannot take an upload; run on an "
                        "existing cluster (cluster_name) or with @task.ray, or pass a reference to the data"
                    )
                runtime_env = self._upload_packages(runtime_env)
            self.runtime_env = runtime_env
            return super().execute(context)

    def _upload_packages(self, runtime_env: dict[str, Any]) -> dict[str, Any]:
        """Upload local folders of the runtime env to the existing cluster, through its dashboard."""
        from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
        from airflow_provider_kuberay.tasks import inputs

        inputs.resource_name(str(self.cluster_name), "cluster_name", "RayCluster")
        endpoint = self.hook().dashboard_endpoint(str(self.cluster_name), self.namespace)
        return RayDashboardHook(None, endpoint=endpoint).upload_local_packages(runtime_env)


def kuberay_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> TaskDecorator:
    """
    Run a Python function on Ray as a KubeRay RayJob; the task's XCom is the function's value.

    Takes every :class:`KubeRayRunJobOperator` parameter but ``entrypoint``, e.g.::

        @task.kuberay(cluster=ClusterSpec(...), kuberay_conn_id="kuberay_default")
        def train(epochs: int) -> dict:
            import ray

            ray.init()
            ...
            return {"accuracy": 0.93}
    """
    return task_decorator_factory(
        python_callable=python_callable, decorated_operator_class=KubeRayDecoratedOperator, **kwargs
    )
