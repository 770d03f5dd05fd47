"""RayDashboardHook and RayDashboardAsyncHook against a fake dashboard on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_kuberay.exceptions import DuplicateSubmissionError, RayDashboardError, RayJobNotFoundError
from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
from airflow_provider_kuberay.hooks.ray_dashboard_async import RayDashboardAsyncHook
from airflow_provider_kuberay.hooks.retry import RetryPolicy
from airflow_provider_kuberay.hooks.runtime_env import zip_directory
from tests.support.fake_dashboard import FakeDashboard

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)


def _sync(fake: FakeDashboard) -> RayDashboardHook:
    return RayDashboardHook(None, dashboard_url=fake.url, retry_policy=FAST)


def _async(fake: FakeDashboard) -> RayDashboardAsyncHook:
    return RayDashboardAsyncHook(None, dashboard_url=fake.url, retry_policy=FAST)


def _run_closing(hook: RayDashboardAsyncHook, call: Callable[[RayDashboardAsyncHook], Awaitable[Any]]) -> Any:
    async def scenario() -> Any:
        async with hook:
            return await call(hook)

    return asyncio.run(scenario())


def test_sync_job_lifecycle(fake_dashboard: FakeDashboard) -> None:
    hook = _sync(fake_dashboard)
    assert hook.submit_job(entrypoint="python a.py", submission_id="s1", metadata={"k": "v"}) == "s1"
    assert fake_dashboard.last_submission["metadata"] == {"k": "v"}
    assert hook.get_job_status("s1") == "PENDING"
    fake_dashboard.jobs["s1"].logs = "hello\n"
    assert hook.get_job_logs("s1") == "hello\n"
    assert [job["submission_id"] for job in hook.list_jobs()] == ["s1"]
    assert hook.stop_job("s1") is True
    assert hook.get_job_info("s1")["status"] == "STOPPED"
    assert hook.delete_job("s1") is True
    assert hook.test_connection() == (True, f"Ray 2.60.0-fake dashboard reachable at {fake_dashboard.url}")


def test_sync_serve_applications(fake_dashboard: FakeDashboard) -> None:
    hook = _sync(fake_dashboard)
    config = {"applications": [{"name": "app", "import_path": "m:app"}]}
    hook.deploy_serve_applications(config)
    assert hook.get_serve_applications() == config
    hook.delete_serve_applications()
    assert hook.get_serve_applications() == {"applications": {}}


def test_unknown_job_fails_fast_with_a_clear_error(fake_dashboard: FakeDashboard) -> None:
    started = time.monotonic()
    with pytest.raises(RayJobNotFoundError, match="Job ghost does not exist"):
        _sync(fake_dashboard).get_job_info("ghost")
    with pytest.raises(RayJobNotFoundError):
        _run_closing(_async(fake_dashboard), lambda hook: hook.get_job_info("ghost"))
    assert fake_dashboard.calls("GET") == ["/api/jobs/ghost", "/api/jobs/ghost"]  # 404 is not retried
    assert time.monotonic() - started < 5


def test_transient_errors_are_retried_then_succeed(fake_dashboard: FakeDashboard) -> None:
    fake_dashboard.add_job("s1", status="RUNNING")
    fake_dashboard.fail_next("/api/jobs/s1", 503, times=2)
    assert _sync(fake_dashboard).get_job_status("s1") == "RUNNING"
    assert fake_dashboard.calls("GET").count("/api/jobs/s1") == 3


def test_retries_are_bounded(fake_dashboard: FakeDashboard) -> None:
    fake_dashboard.add_job("s1")
    fake_dashboard.fail_next("/api/jobs/s1", 502, times=10)
    with pytest.raises(RayDashboardError, match="HTTP 502") as info:
        _sync(fake_dashboard).get_job_info("s1")
    assert info.value.http_status == 502
    assert fake_dashboard.calls("GET").count("/api/jobs/s1") == FAST.attempts


def test_unreachable_dashboard_gives_up_after_the_bounded_attempts() -> None:
    from devtools.local_ray import free_port

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(RayDashboardError, match=r"unreachable .* after 3 attempts"):
        RayDashboardHook(None, dashboard_url=url, retry_policy=FAST).list_jobs()
    with pytest.raises(RayDashboardError, match=r"unreachable .* after 3 attempts"):
        _run_closing(RayDashboardAsyncHook(None, dashboard_url=url, retry_policy=FAST), lambda hook: hook.list_jobs())


def test_duplicate_submission_is_not_retried(fake_dashboard: FakeDashboard) -> None:
    fake_dashboard.add_job("s1")
    with pytest.raises(DuplicateSubmissionError):
        _sync(fake_dashboard).submit_job(entrypoint="x", submission_id="s1")
    assert fake_dashboard.calls("POST") == ["/api/jobs/"]


def test_local_working_dir_is_uploaded_once(fake_dashboard: FakeDashboard, tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("print(1)\n")
    hook = _sync(fake_dashboard)
    env = hook.upload_local_packages({"working_dir": str(tmp_path), "pip": ["requests"]})
    assert env["pip"] == ["requests"]
    assert fake_dashboard.packages == {env["working_dir"]: zip_directory(tmp_path, [], include_parent_dir=False)}
    assert hook.upload_local_packages({"working_dir": str(tmp_path)}) == {"working_dir": env["working_dir"]}
    assert len(fake_dashboard.calls("PUT")) == 1  # the second time the package was found


def test_tail_streams_chunks_sync_and_async(fake_dashboard: FakeDashboard) -> None:
    fake_dashboard.add_job("s1", status="RUNNING")
    fake_dashboard.log_chunks["s1"] = ["one\n", "two\nthr", "ee\n"]
    assert list(_sync(fake_dashboard).tail_job_logs("s1")) == ["one\n", "two\nthr", "ee\n"]

    async def collect() -> list[str]:
        async with _async(fake_dashboard) as hook:
            return [chunk async for chunk in hook.tail_job_logs("s1")]

    assert asyncio.run(collect()) == ["one\n", "two\nthr", "ee\n"]


def test_follow_waits_for_the_driver_then_streams_rays_log_less_what_was_read(fake_dashboard: FakeDashboard) -> None:
    job = fake_dashboard.add_job("s1", status="PENDING")
    fake_dashboard.log_chunks["s1"] = ["one\n", "two\nthr", "ee\n"]

    async def scenario() -> tuple[str, bool]:
        async with _async(fake_dashboard) as hook:
            got: list[str] = []

            async def read() -> None:
                async for chunk in hook.follow_job_log("s1", skip=2):
                    got.append(chunk)
                    if "".join(got).endswith("ee\n"):
                        return  # Ray's stream stays open: the reader decides when to stop

            reader = asyncio.ensure_future(read())
            await asyncio.sleep(0.3)
            waited = not reader.done()
            job.status, job.driver_node_id = "RUNNING", "node-1"
            await asyncio.wait_for(reader, 5)
            return "".join(got), waited

    text, waited = asyncio.run(scenario())
    assert waited
    assert text == "e\ntwo\nthree\n"
    assert fake_dashboard.calls("GET").count("/api/v0/logs/stream") == 1
    assert "/api/jobs/s1/logs/tail" not in fake_dashboard.calls("GET")


@pytest.mark.parametrize("why", ["no driver node in the details", "no log stream endpoint"])
def test_follow_falls_back_to_the_jobs_api_tail(fake_dashboard: FakeDashboard, why: str) -> None:
    fake_dashboard.add_job("s1", status="RUNNING", driver_node_id="node-1" if why == "no log stream endpoint" else None)
    fake_dashboard.log_chunks["s1"] = ["one\n", "two\n"]
    if why == "no log stream endpoint":
        fake_dashboard.fail_next("/api/v0/logs/stream", 404)

    async def collect() -> str:
        async with _async(fake_dashboard) as hook:
            return "".join([chunk async for chunk in hook.follow_job_log("s1", skip=4)])

    assert asyncio.run(collect()) == "two\n"
    assert "/api/jobs/s1/logs/tail" in fake_dashboard.calls("GET")


@pytest.mark.parametrize(("ray_version", "streamed"), [("2.9.3", False), ("2.39.0", False), ("2.40.0", True)])
def test_a_ray_whose_stream_mixes_status_bytes_into_the_log_is_followed_through_the_tail(
    fake_dashboard: FakeDashboard, ray_version: str, streamed: bool
) -> None:
    """Before Ray 2.40 the state API's log stream prefixes each chunk with b"1": such a Ray gets the tail."""
    fake_dashboard.ray_version = ray_version
    fake_dashboard.add_job("s1", status="SUCCEEDED", driver_node_id="node-1")
    fake_dashboard.log_chunks["s1"] = ["one\n", "two\n"]

    async def collect() -> str:
        async with _async(fake_dashboard) as hook:
            got = ""
            async for chunk in hook.follow_job_log("s1"):
                got += chunk
                if got.endswith("two\n"):
                    return got  # Ray's stream stays open: the reader decides when to stop
            return got

    assert asyncio.run(collect()) == "one\ntwo\n"
    assert ("/api/v0/logs/stream" in fake_dashboard.calls("GET")) is streamed
    assert ("/api/jobs/s1/logs/tail" in fake_dashboard.calls("GET")) is not streamed


def test_tail_of_unknown_job_says_so(fake_dashboard: FakeDashboard) -> None:
    with pytest.raises(RayJobNotFoundError):
        list(_sync(fake_dashboard).tail_job_logs("ghost"))


def test_async_job_calls(fake_dashboard: FakeDashboard) -> None:
    async def scenario() -> tuple[str, str, bool]:
        async with _async(fake_dashboard) as hook:
            await hook.submit_job(entrypoint="python a.py", submission_id="s2")
            status = await hook.get_job_status("s2")
            stopped = await hook.stop_job("s2")
            return status, await hook.get_job_status("s2"), stopped

    assert asyncio.run(scenario()) == ("PENDING", "STOPPED", True)


def test_headers_and_tls_setting_reach_the_session(fake_dashboard: FakeDashboard) -> None:
    from airflow_provider_kuberay.hooks.dashboard_endpoint import DashboardEndpoint

    endpoint = DashboardEndpoint(url=fake_dashboard.url, headers={"Authorization": "Bearer t"}, verify="/ca.pem")
    session = RayDashboardHook(None, endpoint=endpoint).get_conn()
    assert session.headers["Authorization"] == "Bearer t"
    # verify/cert go with each request (tests/unit/kube covers TLS against a real HTTPS server)
    assert RayDashboardHook(None, dashboard_url=fake_dashboard.url).endpoint.verify is True


def test_the_log_copy_and_the_end_watch_share_one_wait_for_the_driver(fake_dashboard: FakeDashboard) -> None:
    """While a job is PENDING its driver's node is polled once per hook, however many followers need it."""
    job = fake_dashboard.add_job("s1", status="PENDING")

    async def driver_starts_later() -> None:
        await asyncio.sleep(0.6)
        job.status, job.driver_node_id = "RUNNING", "node-1"

    async def scenario(hook: RayDashboardAsyncHook) -> list[Any]:
        gave_up = asyncio.ensure_future(hook._driver_node_id("s1"))
        found = asyncio.gather(hook._driver_node_id("s1"), hook._driver_node_id("s1"), driver_starts_later())
        await asyncio.sleep(0.15)
        gave_up.cancel()  # one follower stops: the others' wait goes on
        return list(await found)[:2]

    assert _run_closing(_async(fake_dashboard), scenario) == ["node-1", "node-1"]
    # One poll (pauses 0.1, 0.2, 0.4 s, then the answer), not one per follower.
    assert 3 <= fake_dashboard.calls("GET").count("/api/jobs/s1") <= 5
