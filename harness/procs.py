"""Process helpers: free loopback ports, and stopping a process tree by the PIDs we started."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> list[int]:
    """n distinct free ports (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        # ppid is the second field after the parenthesised command name.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d.name))
    return kids


def children(pid: int) -> list[int]:
    return _children_map().get(pid, [])


def descendants(pid: int) -> list[int]:
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def terminate_tree(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM pid, then SIGKILL it and every descendant it had that is still alive."""
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


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def non_loopback_listeners(roots: list[int]) -> list[str]:
    """Listening TCP sockets of these processes (and their descendants) outside loopback.

    Sockets inside the pod network namespace are not seen here (ss looks at the host's
    namespace), which is exactly the point: in the host namespace everything must be loopback.
    """
    import re
    import subprocess

    ours = set(roots)
    for r in roots:
        ours.update(descendants(r))
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    bad = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        local = fields[3]
        host = local.rsplit(":", 1)[0].strip("[]").removeprefix("::ffff:")
        if host.startswith("127.") or host == "::1":
            continue
        pids = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if pids & ours:
            bad.append(line.strip())
    return bad


def die_with_parent() -> None:
    """preexec_fn for short-lived helpers: SIGKILL them if the thread that spawned them dies."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
