"""
Process helpers for the dev tooling (demo, tests, harness, benchmarks): free loopback ports,
stopping what we started by its PIDs only (a process tree or a whole session), and checking that
nothing of ours listens outside loopback.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    (port,) = free_ports(1)
    return port


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports free on 127.0.0.1 (held open together so they differ)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # ppid is the second field after the parenthesised command name.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def children(pid: int) -> list[int]:
    """Live direct children of ``pid``."""
    return _children_map().get(pid, [])


def descendants(pid: int) -> list[int]:
    """Live descendants of ``pid`` (children, grandchildren, ...)."""
    kids = _children_map()
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def terminate_tree(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM ``pid``, then SIGKILL it and every descendant it had that is still alive."""
    if not alive(pid):
        _reap(pid)
        return
    tree = descendants(pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (alive(pid) or any(alive(p) for p in tree)):
        _reap(pid)
        time.sleep(0.1)
    for p in [pid, *tree]:
        if alive(p):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
    _reap(pid)


def session_pids(sid: int) -> list[int]:
    """PIDs of the live processes of session ``sid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == sid and alive(int(entry.name)):
                    pids.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                continue
    return pids


def stop_session(sid: int, timeout: float, reap: Callable[[], object] | None = None) -> None:
    """
    SIGTERM every process of session ``sid``, then SIGKILL what is left after ``timeout``. A
    session catches what a process tree misses: children re-parented after their parent died.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in session_pids(sid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        end = time.monotonic() + timeout
        while session_pids(sid) and time.monotonic() < end:
            if reap is not None:
                reap()
            _reap(sid)
            time.sleep(0.2)
        if not session_pids(sid):
            return


def _is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]").removeprefix("::ffff:")
    return host.startswith("127.") or host == "::1"


def non_loopback_listeners(roots: Iterable[int]) -> list[str]:
    """
    ``ss`` lines of the TCP sockets that these processes (and their descendants) listen on outside
    loopback; the network rule wants none. Sockets in another network namespace are not seen
    (``ss`` looks at this one), which is the point: in the host namespace all must be loopback.
    """
    ours = set(roots)
    for root in list(ours):
        ours.update(descendants(root))
    output = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    bad = []
    for line in output.splitlines():
        fields = line.split()
        if len(fields) < 4 or _is_loopback(fields[3]):
            continue
        if {int(pid) for pid in re.findall(r"pid=(\d+)", line)} & ours:
            bad.append(line.strip())
    return bad


def die_with_parent() -> None:
    """``preexec_fn`` for short-lived helpers: SIGKILL them if the thread that spawned them dies."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
