"""Find event-loop blocking: each step of the watched loop is timed and its blocking calls are caught.

A step blocks the loop when it does one of:
- makes a blocking call on the loop's thread: a socket in blocking mode, ``time.sleep``, a DNS lookup;
- spends ``cpu_limit`` seconds of its thread's CPU time;
- holds the loop for ``STALL`` seconds of wall time, whatever the cause.

The CPU-time check is what the wall time alone cannot tell apart on a shared host: a step preempted
by other processes, or waiting for the GIL held by the test's own fake servers, uses no CPU
while it waits. Those waits made a 50 ms wall-time bound fail in CI with nothing blocked
(a 59 ms step, two test workers on two cores).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import ssl
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar
from unittest import mock

T = TypeVar("T")

# Far above any step a shared host stretches; catches a blocking wait the call guard does not know.
STALL = 1.0
_SOCKET_CALLS = ("connect", "accept", "recv", "recv_into", "recvfrom", "send", "sendall", "sendto")
_TLS_CALLS = ("read", "write", "do_handshake")


class _Watch:
    def __init__(self, loop: asyncio.AbstractEventLoop, cpu_limit: float) -> None:
        self.loop = loop
        self.cpu_limit = cpu_limit
        self.thread = threading.get_ident()
        self.step: asyncio.Handle | None = None
        self.reports: list[str] = []

    def run_step(self, original: Callable[[asyncio.Handle], None], handle: asyncio.Handle) -> None:
        if handle._loop is not self.loop:  # type: ignore[attr-defined]  # another thread's loop
            original(handle)
            return
        self.step = handle
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            original(handle)
        finally:
            self.step = None
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
            if cpu >= self.cpu_limit or wall >= STALL:
                self.reports.append(f"Executing {handle!r} took {wall:.3f} seconds ({cpu:.3f} s of CPU)")

    def blocking_call(self, name: str) -> None:
        if self.step is not None and threading.get_ident() == self.thread:
            self.reports.append(f"{name} blocked the event loop in {self.step!r}")


def _always(*_: Any) -> bool:
    return True


def _blocking_socket(sock: socket.socket, *_: Any) -> bool:
    return sock.gettimeout() != 0.0  # 0.0 is non-blocking: what asyncio's transports use


@contextlib.contextmanager
def _guarded(watch: _Watch) -> Iterator[None]:
    def guard(owner: Any, name: str, blocks: Callable[..., bool] = _always) -> Any:
        """Patch ``owner.name`` (a class's method or a module's function) to report the calls that block."""
        original = getattr(owner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if blocks(*args):
                watch.blocking_call(f"{owner.__name__}.{name}")
            return original(*args, **kwargs)

        return mock.patch.object(owner, name, call)

    original_run = asyncio.events.Handle._run
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            mock.patch.object(asyncio.events.Handle, "_run", lambda handle: watch.run_step(original_run, handle))
        )
        for name in _SOCKET_CALLS:
            stack.enter_context(guard(socket.socket, name, _blocking_socket))
        for name in _TLS_CALLS:
            stack.enter_context(guard(ssl.SSLSocket, name, _blocking_socket))
        stack.enter_context(guard(time, "sleep"))
        stack.enter_context(guard(socket, "getaddrinfo"))
        yield


def run_watched(coro: Coroutine[Any, Any, T], cpu_limit: float = 0.05) -> tuple[T, list[str]]:
    """Run ``coro`` in a debug-mode loop; return its result and the steps that blocked the loop."""
    loop = asyncio.new_event_loop()
    loop.set_debug(True)  # its checks (a call from the wrong thread, a coroutine never awaited) stay on
    loop.slow_callback_duration = STALL  # this module times the steps itself
    watch = _Watch(loop, cpu_limit)
    # The check is about the provider's code: a full collection of the garbage earlier tests left
    # (hundreds of ms late in a long session) must not be billed to whichever callback it interrupts.
    gc.collect()
    gc.freeze()
    try:
        with _guarded(watch):
            return loop.run_until_complete(coro), watch.reports
    finally:
        gc.unfreeze()
        loop.close()


async def first_event(trigger: Any) -> dict[str, Any]:
    """The payload of a trigger's first event, closing its generator like the triggerer does."""
    generator = trigger.run()
    try:
        event = await generator.__anext__()
    finally:
        await generator.aclose()
    return dict(event.payload)
