"""@task.ray and the result contract: payloads inline or as a package, nonce-guarded results, limits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_kuberay.decorators.callable_payload import ARGUMENT_LIMIT_BYTES, CallPayload
from airflow_provider_kuberay.result import NONCE_ENV, NONCE_METADATA_KEY, RESULT_MARKER, emit, read_result, result_line
from airflow_provider_kuberay.tasks.results import ask_for_result, result_from_log
from tests.support.airflow_context import context_for
from tests.support.fake_dashboard import FakeDashboard


def spoofer(n: int) -> int:
    print("AIRFLOW_KUBERAY_RESULT:" + "0" * 32 + ":" + "OTk5")  # base64 of 999, with a wrong nonce
    print("AIRFLOW_KUBERAY_RESULT:OTk5")  # the previous release's format
    return n + 1


def unjsonable() -> Any:
    return {1, 2}


def _run(entrypoint: str, nonce: str, cwd: Path | None = None, pythonpath: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, NONCE_ENV: nonce, "PYTHONPATH": pythonpath}
    command = entrypoint.replace("python -c", f"{sys.executable} -c", 1)
    return subprocess.run(command, shell=True, capture_output=True, text=True, env=env, cwd=cwd)


def test_printed_lines_that_look_like_results_do_not_spoof_the_result() -> None:
    entrypoint = CallPayload.build(spoofer, [41], {}).inline_entrypoint()
    assert entrypoint is not None
    nonce = "f" * 32
    done = _run(entrypoint, nonce)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(RESULT_MARKER) == 3
    assert read_result(done.stdout, nonce) == 42
    with pytest.raises(ValueError, match="no result line"):
        read_result("AIRFLOW_KUBERAY_RESULT:OTk5\n", nonce)


def test_large_arguments_travel_as_a_package_not_in_the_entrypoint(tmp_path: Path) -> None:
    big = "x" * 1_000_000

    def size(text: str) -> int:
        return len(text)

    payload = CallPayload.build(size, [big], {})
    assert payload.inline_entrypoint() is None
    package = payload.write_module(tmp_path)
    entrypoint = payload.module_entrypoint()
    assert len(entrypoint) < 2_000
    done = _run(entrypoint, "ab" * 16, pythonpath=str(package.parent))
    assert done.returncode == 0, done.stderr
    assert read_result(done.stdout, "ab" * 16) == 1_000_000
    # Named by content: the same call is the same package (a retry uploads nothing new).
    assert CallPayload.build(size, [big], {}).module_name == payload.module_name


def test_arguments_over_the_limit_are_refused_before_anything_is_built() -> None:
    def size(text: str) -> int:
        return len(text)

    with pytest.raises(ValueError, match=f"more than the limit of {ARGUMENT_LIMIT_BYTES} bytes"):
        CallPayload.build(size, ["x" * ARGUMENT_LIMIT_BYTES], {})


def test_a_result_that_is_not_json_fails_the_job_with_a_clear_message() -> None:
    entrypoint = CallPayload.build(unjsonable, [], {}).inline_entrypoint()
    assert entrypoint is not None
    done = _run(entrypoint, "cd" * 16)
    assert done.returncode == 1
    assert "the return value of unjsonable is not JSON-serializable" in done.stderr


def test_results_over_the_limit_and_non_json_are_refused_by_emit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("airflow_provider_kuberay.result.RESULT_LIMIT_BYTES", 10)
    with pytest.raises(ValueError, match="more than the limit of 10 bytes"):
        result_line("x" * 20, "n")
    with pytest.raises(ValueError, match="JSON-serializable"):
        result_line(object(), "n")
    monkeypatch.delenv(NONCE_ENV, raising=False)
    with pytest.raises(RuntimeError, match=NONCE_ENV):
        emit(1)
    monkeypatch.setenv(NONCE_ENV, "abc")
    emit([1, "two"])
    assert read_result(capsys.readouterr().out, "abc") == [1, "two"]


def test_the_result_module_needs_no_airflow() -> None:
    code = (
        "import sys; sys.modules['airflow'] = None\n"
        "from airflow_provider_kuberay.result import emit\n"
        "emit({'ok': True}, nonce='n1')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert read_result(done.stdout, "n1") == {"ok": True}


def test_asking_for_a_result_records_the_nonce_for_the_program_and_for_the_task() -> None:
    runtime_env, metadata = ask_for_result({"env_vars": {"A": "1"}, "pip": ["x"]}, {"team": "ml"}, "n2")
    assert runtime_env == {"env_vars": {"A": "1", NONCE_ENV: "n2"}, "pip": ["x"]}
    assert metadata == {"team": "ml", NONCE_METADATA_KEY: "n2"}
    assert result_from_log(result_line(7, "n2"), metadata, "job j") == 7
    with pytest.raises(ValueError, match="job j was not submitted asking for a result"):
        result_from_log(result_line(7, "n2"), {}, "job j")
    with pytest.raises(ValueError, match="job j: the job's log has no result line"):
        result_from_log(result_line(7, "other"), metadata, "job j")


def test_task_ray_is_registered_and_builds_a_jobs_api_operator() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk import DAG, task

    from airflow_provider_kuberay.decorators.ray import RayDecoratedOperator

    assert "ray" in ProvidersManager().taskflow_decorators
    with DAG(dag_id="decorated_ray") as dag:

        @task.ray(runtime_env={"pip": ["numpy"]}, entrypoint_num_cpus=1, deferrable=True)
        def double(x: int) -> int:
            return x * 2

        double(21)
    op = dag.get_task("double")
    assert isinstance(op, RayDecoratedOperator)
    assert (list(op.op_args), op.return_result, op.deferrable, op.entrypoint_num_cpus) == ([21], True, True, 1)


def test_task_ray_refuses_too_large_arguments_before_any_request(fake_dashboard: FakeDashboard) -> None:
    from airflow_provider_kuberay.decorators.ray import RayDecoratedOperator

    def size(text: str) -> int:
        return len(text)

    op = RayDecoratedOperator(
        task_id="size",
        python_callable=size,
        op_args=["x" * (ARGUMENT_LIMIT_BYTES + 1)],
        dashboard_url=fake_dashboard.url,
        ray_dashboard_conn_id=None,
        deferrable=False,
    )
    with pytest.raises(ValueError, match="more than the limit"):
        op.execute(context_for())
    assert fake_dashboard.requests == []


def test_task_ray_uploads_large_arguments_with_the_runtime_env(fake_dashboard: FakeDashboard) -> None:
    from airflow_provider_kuberay.decorators.ray import RayDecoratedOperator

    def size(text: str) -> int:
        return len(text)

    op = RayDecoratedOperator(
        task_id="size",
        python_callable=size,
        op_args=["x" * 300_000],
        runtime_env={"env_vars": {"A": "1"}},
        dashboard_url=fake_dashboard.url,
        ray_dashboard_conn_id=None,
        deferrable=False,
        wait_for_completion=False,
    )
    op.execute(context_for())
    (job,) = fake_dashboard.jobs.values()
    details = job.details()
    assert details["runtime_env"]["py_modules"][0].startswith("gcs://_ray_pkg_")
    assert details["runtime_env"]["env_vars"]["A"] == "1"
    assert details["runtime_env"]["env_vars"][NONCE_ENV] == details["metadata"][NONCE_METADATA_KEY]
    assert len(details["entrypoint"]) < 2_000
    assert fake_dashboard.calls("PUT")
