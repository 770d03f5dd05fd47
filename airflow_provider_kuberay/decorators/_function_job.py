"""What ``@task.ray`` and ``@task.kuberay`` share: an entrypoint built at run time, the function's value returned."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.decorator import DecoratedOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

_SET_AT_RUN_TIME = "(built from the decorated function when the task runs)"


def function_template_fields(operator_fields: Sequence[str]) -> tuple[str, ...]:
    return (*operator_fields, "op_args", "op_kwargs")


def function_template_renderers(operator_renderers: Mapping[str, str]) -> dict[str, str]:
    return {**operator_renderers, "op_args": "py", "op_kwargs": "py"}


class FunctionJobOperator(DecoratedOperator):
    """
    Combined with a job operator that has ``return_result`` and ``_finish`` (placed after this
    class): the entrypoint is built from the function when the task runs, and the task's value is
    the function's (read back with the job operator's result machinery).
    """

    def __init__(self, *, python_callable: Callable[..., Any], **kwargs: Any) -> None:
        kwargs.setdefault("entrypoint", _SET_AT_RUN_TIME)
        kwargs["return_result"] = True
        super().__init__(python_callable=python_callable, **kwargs)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        return self._handle_output(return_value=self._finish(context, event))  # type: ignore[attr-defined]
