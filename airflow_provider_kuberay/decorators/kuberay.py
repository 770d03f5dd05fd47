"""``@task.kuberay``: run a Python function as a KubeRay RayJob and return its value."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory

from airflow_provider_kuberay.operators.run_job import KubeRayRunJobOperator

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.bases.decorator import TaskDecorator

_SET_AT_RUN_TIME = "(built from the decorated function when the task runs)"


class KubeRayDecoratedOperator(DecoratedOperator, KubeRayRunJobOperator):
    """
    Run the decorated function on Ray as a RayJob (all :class:`KubeRayRunJobOperator` parameters
    apply) and push its return value to XCom. The function must import what it uses inside its
    body, take and return JSON-serializable values, and be defined with ``def``.
    """

    custom_operator_name = "@task.kuberay"
    template_fields: Sequence[str] = (*KubeRayRunJobOperator.template_fields, "op_args", "op_kwargs")
    template_fields_renderers = {**KubeRayRunJobOperator.template_fields_renderers, "op_args": "py", "op_kwargs": "py"}

    def __init__(self, *, python_callable: Callable[..., Any], **kwargs: Any) -> None:
        kwargs.setdefault("entrypoint", _SET_AT_RUN_TIME)
        super().__init__(python_callable=python_callable, **kwargs)

    def execute(self, context: Context) -> Any:
        from airflow_provider_kuberay.decorators.callable_payload import INLINE_LIMIT_CHARS, CallPayload
        from airflow_provider_kuberay.hooks.runtime_env import parse_runtime_env
        from airflow_provider_kuberay.result import new_nonce
        from airflow_provider_kuberay.tasks.results import ask_for_result

        payload = CallPayload.build(self.python_callable, list(self.op_args), self.op_kwargs)
        entrypoint = payload.inline_entrypoint()
        if entrypoint is None:
            raise ValueError(
                f"the arguments of {payload.name!r} do not fit in a RayJob entrypoint (over {INLINE_LIMIT_CHARS} "
                "characters); use @task.ray on the cluster (it uploads them), or pass a reference to the data"
            )
        self.entrypoint = entrypoint
        self.runtime_env, self.metadata = ask_for_result(
            parse_runtime_env(self.runtime_env), dict(self.metadata or {}), new_nonce()
        )
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        return self._handle_output(return_value=self._finish(context, event))

    def _finish(self, context: Context, payload: Mapping[str, Any]) -> Any:
        from airflow_provider_kuberay.tasks.results import result_from_log

        summary = super()._finish(context, payload)
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
