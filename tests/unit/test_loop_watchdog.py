"""The event-loop watchdog the trigger tests rely on: it sees every kind of blocking, and nothing else."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.request

from tests.support.fake_dashboard import FakeDashboard
from tests.support.loop_watchdog import run_watched


def _spend_cpu(seconds: float) -> None:
    """Compute (no waiting) until this thread has used ``seconds`` of CPU time."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def _busy(seconds: float) -> None:
    _spend_cpu(seconds)


def test_a_short_sleep_is_caught_however_fast() -> None:
    async def blocking() -> None:
        time.sleep(0.001)  # noqa: ASYNC251 - the blocking call the watchdog must see

    _, slow = run_watched(blocking())
    assert len(slow) == 1
    assert slow[0].startswith("time.sleep blocked the event loop in")


def test_a_synchronous_http_request_is_caught(fake_dashboard: FakeDashboard) -> None:
    async def blocking() -> bytes:
        with urllib.request.urlopen(f"{fake_dashboard.url}/api/version", timeout=5) as answer:  # noqa: ASYNC210
            return bytes(answer.read())

    body, slow = run_watched(blocking())
    assert b"ray_version" in body
    assert any(report.startswith("socket.connect blocked") for report in slow), slow
    assert any(report.startswith("socket.recv_into blocked") for report in slow), slow


def test_a_step_that_computes_too_long_is_caught() -> None:
    _, slow = run_watched(_busy(0.1))
    assert len(slow) == 1
    assert "s of CPU)" in slow[0]


def test_asynchronous_io_and_work_in_threads_are_not_reported(fake_dashboard: FakeDashboard) -> None:
    async def fine() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", fake_dashboard.port)
        writer.write(b"GET /api/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()
        await asyncio.to_thread(time.sleep, 0.1)  # a thread may block: the loop goes on
        await asyncio.sleep(0.05)
        return len(answer)

    size, slow = run_watched(fine())
    assert size > 0
    assert slow == []


def test_a_step_stretched_by_another_thread_holding_the_gil_is_not_reported() -> None:
    """40 ms of the step's own work, stretched well past 50 ms of wall time by a thread sharing the GIL.

    That stretch is what a shared host does to a step; the step blocks nothing, so nothing is reported.
    """
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(1000))

    async def work() -> float:
        started = time.perf_counter()
        _spend_cpu(0.04)
        return time.perf_counter() - started

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        wall, slow = run_watched(work())
    finally:
        stop.set()
        spinner.join()
    assert wall > 0.05, "the spinner must really have stretched the step"
    assert slow == []


def test_the_cpu_limit_is_the_callers() -> None:
    _, slow = run_watched(_busy(0.1), cpu_limit=0.2)
    assert slow == []
