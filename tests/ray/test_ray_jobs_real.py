"""The Ray Jobs path against a real local Ray head (127.0.0.1), started once per session."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_kuberay.exceptions import RayJobFailedError
from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
from airflow_provider_kuberay.hooks.ray_dashboard_async import RayDashboardAsyncHook
from airflow_provider_kuberay.operators import KubeRaySubmitJobOperator
from airflow_provider_kuberay.triggers import RayDashboardJobTrigger
from tests.support.airflow_context import FakeTaskInstance, context_for
from tests.support.loop_watchdog import first_event, run_watched

pytestmark = pytest.mark.ray


def _hook(ray_head: Any) -> RayDashboardHook:
    return RayDashboardHook(None, dashboard_url=ray_head.dashboard_url)


def _operator(ray_head: Any, entrypoint: str, **kwargs: Any) -> KubeRaySubmitJobOperator:
    return KubeRaySubmitJobOperator(
        task_id=kwargs.pop("task_id", "job"),
        entrypoint=entrypoint,
        ray_dashboard_conn_id=None,
        dashboard_url=ray_head.dashboard_url,
        deferrable=False,
        poll_interval=0.5,
        **kwargs,
    )


def _ti() -> FakeTaskInstance:
    return FakeTaskInstance(dag_id="real_ray", run_id=f"run-{uuid.uuid4().hex[:8]}")


def test_success_streams_output_into_the_task_log(ray_head: Any, capsys: pytest.CaptureFixture[str]) -> None:
    ti = _ti()
    program = (
        "import ray; ray.init(); print('sum', sum(ray.get([ray.remote(lambda x: x * x).remote(i) for i in range(5)])))"
    )
    op = _operator(ray_head, f'python -c "{program}"')
    sid = op.execute(context_for(ti))
    assert ti.xcoms["job_status"] == "SUCCEEDED"
    assert ti.xcoms["submission_id"] == sid
    assert "[ray] sum 30" in capsys.readouterr().out
    assert _hook(ray_head).get_job_info(sid)["metadata"]["airflow_dag_id"] == "real_ray"


def test_nonzero_exit_fails_the_task_with_rays_message_and_log_tail(ray_head: Any) -> None:
    op = _operator(ray_head, "python -c \"print('about to fail'); raise SystemExit(3)\"")
    with pytest.raises(RayJobFailedError) as info:
        op.execute(context_for(_ti()))
    text = str(info.value)
    assert "ended with status FAILED" in text
    assert "exit code 3" in text
    assert "about to fail" in text.split("Last lines of the job log:")[1]


def test_on_kill_stops_the_submitted_job(ray_head: Any) -> None:
    ti = _ti()
    op = _operator(ray_head, "python -c \"import time; print('started', flush=True); time.sleep(120)\"")
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            op.execute(context_for(ti))
        except BaseException as err:
            outcome["error"] = err

    worker = threading.Thread(target=run)
    worker.start()
    hook = _hook(ray_head)
    deadline = time.monotonic() + 60
    while "submission_id" not in ti.xcoms or hook.get_job_status(ti.xcoms["submission_id"]) != "RUNNING":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.5)
    op.on_kill()
    worker.join(60)
    assert not worker.is_alive()
    assert hook.get_job_status(ti.xcoms["submission_id"]) == "STOPPED"
    assert isinstance(outcome.get("error"), RayJobFailedError)
    assert "STOPPED" in str(outcome["error"])


def test_a_restarted_worker_adopts_the_running_job(ray_head: Any) -> None:
    ti = _ti()
    hook = _hook(ray_head)
    first = _operator(
        ray_head, "python -c \"import time; time.sleep(4); print('done once')\"", wait_for_completion=False
    )
    sid = first.execute(context_for(ti))
    # Same task instance and try: a worker that died and came back.
    second = _operator(ray_head, "python -c \"import time; time.sleep(4); print('done once')\"")
    assert second.execute(context_for(ti)) == sid
    assert [job["submission_id"] for job in hook.list_jobs()].count(sid) == 1
    assert hook.get_job_logs(sid).splitlines().count("done once") == 1  # it ran once


def test_runtime_env_working_dir_is_shipped(ray_head: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "payload.txt").write_text("shipped-with-the-job\n")
    (tmp_path / "main.py").write_text("print(open('payload.txt').read().strip())\n")
    op = _operator(ray_head, "python main.py", runtime_env={"working_dir": str(tmp_path), "env_vars": {"A": "1"}})
    op.execute(context_for(_ti()))
    assert "[ray] shipped-with-the-job" in capsys.readouterr().out


def test_trigger_follows_a_real_job_without_blocking_the_loop(
    ray_head: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = _hook(ray_head)
    sid = f"trigger-{uuid.uuid4().hex[:8]}"
    hook.submit_job(
        entrypoint="python -c \"import time; print('tick', flush=True); time.sleep(2); print('tock')\"",
        submission_id=sid,
    )
    trigger = RayDashboardJobTrigger(submission_id=sid, dashboard_url=ray_head.dashboard_url, poll_interval=0.2)
    event, slow = run_watched(first_event(trigger))
    assert slow == [], f"the trigger blocked the event loop: {slow}"
    assert event["outcome"] == "succeeded"
    out = capsys.readouterr().out
    assert "[ray] tick" in out
    assert "[ray] tock" in out


def test_log_lines_arrive_while_the_job_runs(ray_head: Any) -> None:
    hook = _hook(ray_head)
    sid = f"live-{uuid.uuid4().hex[:8]}"
    hook.submit_job(
        entrypoint="python -u -c \"import time; print('early'); time.sleep(4); print('late')\"", submission_id=sid
    )

    async def first_line_time() -> float:
        async with RayDashboardAsyncHook(None, dashboard_url=ray_head.dashboard_url) as async_hook:
            async for chunk in async_hook.tail_job_logs(sid):
                if "early" in chunk:
                    return time.monotonic()
        raise AssertionError("'early' never arrived")

    seen_at = asyncio.run(first_line_time())
    status_then = hook.get_job_status(sid)
    assert status_then == "RUNNING", "the first line should arrive before the job ends"
    while hook.get_job_status(sid) == "RUNNING":
        time.sleep(0.3)
    assert time.monotonic() - seen_at > 1.0


SERVE_APP = """
from ray import serve


@serve.deployment
class Echo:
    async def __call__(self, request):
        return "echo:" + (await request.body()).decode()


app = Echo.bind()
"""


def test_serve_applications_deploy_read_and_delete(ray_head: Any, tmp_path: Path) -> None:
    import requests

    from devtools.local_ray import free_port

    (tmp_path / "echo_app.py").write_text(SERVE_APP)
    hook = _hook(ray_head)
    runtime_env = hook.upload_local_packages({"working_dir": str(tmp_path)})
    port = free_port()
    hook.deploy_serve_applications(
        {
            "http_options": {"host": "127.0.0.1", "port": port},
            "applications": [
                {"name": "echo", "route_prefix": "/echo", "import_path": "echo_app:app", "runtime_env": runtime_env}
            ],
        }
    )
    deadline = time.monotonic() + 120
    while hook.get_serve_applications().get("applications", {}).get("echo", {}).get("status") != "RUNNING":
        assert time.monotonic() < deadline, hook.get_serve_applications()
        time.sleep(1)
    assert requests.post(f"http://127.0.0.1:{port}/echo", data="hi", timeout=10).text == "echo:hi"
    assert not ray_head.non_loopback_listeners()  # Serve's proxy stays on loopback too
    hook.delete_serve_applications()
    while hook.get_serve_applications().get("applications"):
        assert time.monotonic() < deadline
        time.sleep(1)
