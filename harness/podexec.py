"""Run one container of a harness pod: its command in the pod's namespaces, as a container runtime would.

    python -S harness/podexec.py --id POD_UID/CONTAINER --netns NS --hostname POD [--bind SRC:DST[:ro]]...
        [--cwd DIR] -- ARGV...

Stdlib only and run with ``-S`` (it starts once per container). What the container gets:

- the pod's network namespace (its own IP, its own ports, shared by the pod's containers);
- a mount namespace of its own: the bind mounts given (the pod's ``/etc/hosts``, ``/etc/resolv.conf``,
  ``/tmp``, the service-account token), a fresh ``/run`` (a container's own) and ``/proc``;
- a UTS namespace with the pod's hostname, and a PID namespace.

Three processes: this one (the PID the kubelet records) forwards SIGTERM/SIGINT to an init
process (PID 1 of the pod's PID namespace), which passes it on to every process in there and
reaps orphans; the container's command runs as its child. When the command exits, init exits
with its code and the kernel kills whatever is left in the namespace; this process exits with
that code too. If this process is SIGKILLed, init dies with it (parent-death signal), and with
init, everything in the namespace; this process dies with the kubelet the same way.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        _libc.mount(
            src.encode() if src else None,
            dst.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {src} on {dst}",
    )


def _bind(src: str, dst: str, read_only: bool) -> None:
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
    elif not os.path.exists(dst):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        open(dst, "a").close()  # a mount point for a file: only ever made inside the fresh /run
    _mount(src, dst, None, MS_BIND | MS_REC)
    if read_only:
        _mount(None, dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY)


def _target(dst: str) -> str:
    """Where a mount on dst lands (/var/run is /run; /etc/resolv.conf may be a link into /run)."""
    if dst.startswith("/var/run/"):
        return "/run/" + dst.removeprefix("/var/run/")
    return dst if dst.startswith("/run/") else os.path.realpath(dst)


def _enter(netns: str, hostname: str, binds: list[tuple[str, str, bool]]) -> None:
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), "setns into the pod network")
    finally:
        os.close(fd)
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWPID), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing mounted here leaks to the host
    _mount("tmpfs", "/run", "tmpfs", 0, "mode=755,size=16m")
    # Each source is first bound under the fresh /run, so that a mount over a directory that
    # holds sources (/tmp) hides none of them; then parents are mounted before children.
    staged = []
    for i, (src, dst, ro) in enumerate(binds):
        stage = f"/run/.harness-pod/{i}"
        _bind(src, stage, False)
        staged.append((stage, _target(dst), ro))
    for stage, dst, ro in sorted(staged, key=lambda b: b[1].count("/")):
        _bind(stage, dst, ro)
    name = hostname.encode()
    _check(_libc.sethostname(name, len(name)), "sethostname")


def _forward(to: int) -> None:
    def handler(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(to, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, handler)


def _wait_code(pid: int) -> int:
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except InterruptedError:
            continue
        if os.WIFSTOPPED(status):
            continue
        code = os.waitstatus_to_exitcode(status)
        return 128 - code if code < 0 else code


def _init(argv: list[str], cwd: str | None) -> int:
    """PID 1 of the pod's PID namespace: run the command, pass signals on, reap orphans."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL), "prctl")
    _mount("proc", "/proc", "proc", 0)
    child = os.fork()
    if child == 0:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        # The image's working directory stands for "/" unless the spec names one (the kubelet's own
        # directory, where this process started, may be hidden under the pod's mounts).
        os.chdir(cwd or "/")
        try:
            os.execvp(argv[0], argv)
        except OSError as e:
            sys.stderr.write(f"harness podexec: cannot start {argv[0]}: {e}\n")
            os._exit(127)

    def handler(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signum)  # every process of the pod's PID namespace but init

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, handler)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code  # killed by signal N: 128+N, as a shell says


def main(argv: list[str]) -> int:
    netns = hostname = cwd = None
    binds: list[tuple[str, str, bool]] = []
    i = 0
    while i < len(argv) and argv[i] != "--":
        flag, value = argv[i], argv[i + 1]
        if flag == "--netns":
            netns = value
        elif flag == "--hostname":
            hostname = value
        elif flag == "--id":
            pass  # only there to find this container's process (harness.pods.find_container_pid)
        elif flag == "--cwd":
            cwd = value
        elif flag == "--bind":
            src, dst, *mode = value.split(":")
            binds.append((src, dst, mode == ["ro"]))
        else:
            raise SystemExit(f"podexec: unknown flag {flag}")
        i += 2
    command = argv[i + 1 :]
    if not (netns and hostname and command):
        raise SystemExit("podexec: --netns, --hostname and a command are required")
    # Pods do not outlive the kubelet that started them (nor does init outlive this process).
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL), "prctl")
    _enter(netns, hostname, binds)
    init = os.fork()
    if init == 0:
        try:
            code = _init(command, cwd)
        except BaseException as e:  # never return into the caller's code path in the child
            sys.stderr.write(f"harness podexec: {e}\n")
            code = 127
        os._exit(code)
    _forward(init)
    return _wait_code(init)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
