"""@task.kuberay's payload: a function shipped as source, its JSON result read back from a log."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from airflow_provider_kuberay.decorators.callable_payload import CallPayload, function_source
from airflow_provider_kuberay.result import NONCE_ENV, RESULT_MARKER, read_result

NONCE = "0123abcd"


def build_entrypoint(function, args, kwargs):  # type: ignore[no-untyped-def]
    entrypoint = CallPayload.build(function, args, kwargs).inline_entrypoint()
    assert entrypoint is not None
    return entrypoint


def extract_result(log: str):  # type: ignore[no-untyped-def]
    return read_result(log, NONCE)


def _decorate(function):  # type: ignore[no-untyped-def]
    return function


@_decorate
def summarize(values: list[int], *, scale: float = 1.0) -> dict[str, float]:
    import statistics

    return {"mean": statistics.mean(values) * scale, "n": len(values)}


def test_source_has_no_decorators() -> None:
    source = function_source(summarize)
    assert source.startswith("def summarize(")
    assert "@_decorate" not in source


def test_the_entrypoint_runs_in_a_shell_and_its_result_comes_back() -> None:
    entrypoint = build_entrypoint(summarize, [[1, 2, 3]], {"scale": 2.0})
    entrypoint = entrypoint.replace("python -c", f"{sys.executable} -c", 1)
    env = {**os.environ, NONCE_ENV: NONCE}
    output = subprocess.run(entrypoint, shell=True, capture_output=True, text=True, check=True, env=env).stdout
    assert extract_result("driver chatter\n" + output) == {"mean": 4.0, "n": 3}


def test_bad_inputs_are_refused_before_any_job() -> None:
    with pytest.raises(ValueError, match="JSON-serializable"):
        build_entrypoint(summarize, [{1, 2}], {})
    with pytest.raises(ValueError, match="lambdas"):
        build_entrypoint(lambda: 1, [], {})


def test_a_log_without_result_says_so() -> None:
    with pytest.raises(ValueError, match="no result line"):
        extract_result("Traceback ...\nValueError: boom\n")
    assert extract_result(f"x\n{RESULT_MARKER}{NONCE}:bnVsbA==\n") is None  # base64 of 'null'


def test_the_decorator_is_registered_and_builds_a_rayjob_operator() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk import DAG, task

    from airflow_provider_kuberay.decorators.kuberay import KubeRayDecoratedOperator
    from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup

    assert "kuberay" in ProvidersManager().taskflow_decorators
    cluster = ClusterSpec(image="rayproject/ray:2.52.0", ray_version="2.52.0", head=HeadGroup())
    with DAG(dag_id="decorated") as dag:

        @task.kuberay(cluster=cluster, namespace="ml")
        def double(x: int) -> int:
            return x * 2

        double(21)
    op = dag.get_task("double")
    assert isinstance(op, KubeRayDecoratedOperator)
    assert list(op.op_args) == [21]
    assert (op.cluster, op.namespace) == (cluster, "ml")
    assert op.build_body("double-x", "ml", {})["spec"]["rayClusterSpec"]["headGroupSpec"]


def test_shipped_source_drops_annotations_the_ray_side_cannot_resolve() -> None:
    source = function_source(summarize)
    assert "list[int]" not in source
    assert "->" not in source
