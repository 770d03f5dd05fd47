"""``@task.ray``: run a Python function as a job on an existing Ray cluster (Ray Jobs API) and return its value."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.decorator import task_decorator_factory

from airflow_provider_kuberay.decorators._function_job import (
    FunctionJobOperator,
    function_template_fields,
    function_template_renderers,
)
from airflow_provider_kuberay.operators.submit_job import KubeRaySubmitJobOperator

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.bases.decorator import TaskDecorator


class RayDecoratedOperator(FunctionJobOperator, KubeRaySubmitJobOperator):
    """
    Run the decorated function as a Ray job through the Ray Jobs API (all
    :class:`~airflow_provider_kuberay.operators.KubeRaySubmitJobOperator` parameters apply, but
    ``entrypoint`` and ``return_result``) and push its return value to XCom.

    The function must import what it uses inside its body, be defined with ``def``, and take and
    return JSON-serializable values. Arguments up to
    :data:`~airflow_provider_kuberay.decorators.callable_payload.ARGUMENT_LIMIT_BYTES` (16 MiB of
    JSON) travel as a package uploaded with the runtime env when they do not fit on the command
    line; the result, up to :data:`~airflow_provider_kuberay.result.RESULT_LIMIT_BYTES` (16 MiB of
    JSON), comes back through the job's log.
    """

    custom_operator_name = "@task.ray"
    template_fields: Sequence[str] = function_template_fields(KubeRaySubmitJobOperator.template_fields)
    template_fields_renderers = function_template_renderers(KubeRaySubmitJobOperator.template_fields_renderers)

    def execute(self, context: Context) -> Any:
        from airflow_provider_kuberay.decorators.callable_payload import CallPayload, shipped

        payload = CallPayload.build(self.python_callable, list(self.op_args), self.op_kwargs)
        # The submission uploads a package of the call along with the runtime env's other local folders.
        with shipped(payload, self.runtime_env) as (self.entrypoint, self.runtime_env):
            return super().execute(context)


def ray_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> TaskDecorator:
    """
    Run a Python function as a job on an existing Ray cluster; the task's XCom is the function's value.

    Takes every :class:`~airflow_provider_kuberay.operators.KubeRaySubmitJobOperator` parameter but
    ``entrypoint``: a ``ray_dashboard`` connection, or ``cluster_name`` of a RayCluster reached
    through a ``kuberay`` connection; ``runtime_env``, ``entrypoint_num_cpus`` and the other
    entrypoint resources; ``deferrable``. For example::

        @task.ray(ray_dashboard_conn_id="ray_dashboard_default", runtime_env={"pip": ["numpy"]})
        def mean(values: list[float]) -> float:
            import numpy as np

            return float(np.mean(values))
    """
    return task_decorator_factory(
        python_callable=python_callable, decorated_operator_class=RayDecoratedOperator, **kwargs
    )
