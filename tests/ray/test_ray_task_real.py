"""@task.ray and return_result against a real local Ray head: results, spoofing, large arguments."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from airflow_provider_kuberay.decorators.ray import RayDecoratedOperator
from airflow_provider_kuberay.exceptions import RayJobFailedError
from airflow_provider_kuberay.operators import KubeRaySubmitJobOperator
from tests.support.airflow_context import FakeTaskInstance, context_for

pytestmark = pytest.mark.ray

MB = 1_000_000


def _ti() -> FakeTaskInstance:
    return FakeTaskInstance(dag_id="real_ray_task", run_id=f"run-{uuid.uuid4().hex[:8]}")


def _task(ray_head: Any, function: Any, *args: Any, **kwargs: Any) -> RayDecoratedOperator:
    return RayDecoratedOperator(
        task_id=function.__name__,
        python_callable=function,
        op_args=list(args),
        ray_dashboard_conn_id=None,
        dashboard_url=ray_head.dashboard_url,
        deferrable=False,
        poll_interval=0.5,
        stream_logs=False,
        **kwargs,
    )


def squares_with_spoof(n: int) -> dict:
    import ray

    ray.init()
    # Lines that look like results must not become the result.
    print("AIRFLOW_KUBERAY_RESULT:" + "0" * 32 + ":OTk5", flush=True)
    print("AIRFLOW_KUBERAY_RESULT:OTk5", flush=True)
    square = ray.remote(lambda x: x * x)
    return {"sum": sum(ray.get([square.remote(i) for i in range(n)]))}


def measure(text: str, repeat: int = 1) -> dict:
    return {"length": len(text), "head": text[:3], "repeat": repeat}


def not_json() -> object:
    return {1, 2}


def test_the_function_value_is_the_result_and_printed_lookalikes_do_not_spoof_it(ray_head: Any) -> None:
    ti = _ti()
    op = _task(ray_head, squares_with_spoof, 5, entrypoint_num_cpus=0.5, runtime_env={"env_vars": {"X": "1"}})
    assert op.execute(context_for(ti)) == {"sum": 30}
    assert ti.xcoms["job_status"] == "SUCCEEDED"
    assert ti.xcoms["submission_id"].startswith("airflow-real_ray_task.task-")


@pytest.mark.parametrize("size", [1 * MB, 10 * MB], ids=["1MB", "10MB"])
def test_large_arguments_travel_with_the_runtime_env(ray_head: Any, size: int) -> None:
    op = _task(ray_head, measure, "abc" + "x" * (size - 3), op_kwargs={"repeat": 2})
    assert op.execute(context_for(_ti())) == {"length": size, "head": "abc", "repeat": 2}


def test_a_result_that_is_not_json_fails_with_a_clear_error(ray_head: Any) -> None:
    with pytest.raises(RayJobFailedError, match="the return value of not_json is not JSON-serializable"):
        _task(ray_head, not_json).execute(context_for(_ti()))


def test_a_script_returns_a_value_through_the_result_module(ray_head: Any) -> None:
    from pathlib import Path

    import airflow_provider_kuberay

    # The Ray program imports only the tiny result module (shipped here with py_modules).
    program = "from airflow_provider_kuberay.result import emit; print('chatter'); emit({'rows': 3})"
    op = KubeRaySubmitJobOperator(
        task_id="script",
        entrypoint=f'python -c "{program}"',
        runtime_env={"py_modules": [str(Path(airflow_provider_kuberay.__file__).parent)]},
        ray_dashboard_conn_id=None,
        dashboard_url=ray_head.dashboard_url,
        deferrable=False,
        poll_interval=0.5,
        return_result=True,
    )
    ti = _ti()
    assert op.execute(context_for(ti)) == {"rows": 3}
    assert ti.xcoms["submission_id"].startswith("airflow-real_ray_task.task-")
