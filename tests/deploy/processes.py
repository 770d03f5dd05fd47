"""One server process of the deploy tier: started in a session of its own, logged to a file, stopped by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devtools.processes import session_pids, stop_session

ROOT = Path(__file__).resolve().parents[2]


class ManagedProcess:
    """
    A long-running command whose whole process session (it and every child it forks) is ours.

    :param name: short name used in messages.
    :param command: argv.
    :param log_path: stdout and stderr go here (appended: a restart keeps the earlier output).
    :param env: the full environment.
    :param user: run as this user (we are root and the program refuses root), else as ourselves.
    """

    def __init__(
        self, name: str, command: list[str], log_path: Path, env: dict[str, str], user: str | None = None
    ) -> None:
        self.name = name
        self.command = command
        self.log_path = log_path
        self.env = env
        self.user = user
        self._process: subprocess.Popen[bytes] | None = None
        self._guard: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        assert self._process is None, f"{self.name} is already running"
        with self.log_path.open("ab") as log:
            log.write(f"\n===== {time.strftime('%H:%M:%S')} starting {self.name}: {' '.join(self.command)}\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, user=self.user, cwd=ROOT, start_new_session=True,
            )  # fmt: skip
        # Stops the session if this test process dies without stopping it (a time limit, SIGKILL).
        self._guard = subprocess.Popen(
            [sys.executable, "-m", "devtools.local_ray", "guard", str(os.getpid()), str(self._process.pid)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
        )

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def pids(self) -> list[int]:
        """Every live process of this server's session."""
        return [] if self._process is None else session_pids(self._process.pid)

    def kill(self) -> None:
        """SIGKILL the server and everything it forked at once, as a lost machine or pod would."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._forget(timeout=10.0)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the session, then SIGKILL whatever is left after ``timeout``."""
        if self._process is None:
            return
        stop_session(self._process.pid, timeout, reap=self._process.poll)
        self._forget(timeout=10.0)

    def _forget(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while self.pids() and time.monotonic() < deadline:
            self._process.poll()
            time.sleep(0.1)
        self._process.wait(timeout=5)
        self._process = None
        if self._guard is not None:
            self._guard.terminate()
            self._guard.wait(timeout=5)
            self._guard = None
