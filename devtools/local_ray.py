"""
A local Ray head bound to 127.0.0.1, owned by the caller: started as a child session and stopped by
the PIDs of that session only. Used by ``make demo`` and the test fixtures.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

# Ray treats a node as single-machine (every server on loopback) only with this switch off.
_LOOPBACK_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    # Under `uv run`, Ray would make every worker `uv run` a copy of this project: slow and useless here.
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_SHIM_SOURCE = Path(__file__).with_name("loopback") / "loopback_bind.c"
_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "airflow-provider-kuberay"


def loopback_shim() -> Path | None:
    """
    Build (once, into the user cache) the LD_PRELOAD shim that turns "listen everywhere" into
    "listen on loopback"; ``None`` where no C compiler exists (the listener check then tells).
    """
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    digest = hashlib.sha256(_SHIM_SOURCE.read_bytes()).hexdigest()[:12]
    target = _CACHE / f"loopback-bind-{digest}.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(partial), str(_SHIM_SOURCE), "-ldl"], check=True)
        partial.replace(target)
    return target


def _ray_executable() -> str:
    candidate = Path(sys.executable).with_name("ray")
    found = str(candidate) if candidate.exists() else shutil.which("ray")
    if not found:
        raise RuntimeError("the `ray` command is missing: install the project with its `local` extra")
    return found


class LocalRayHead:
    """
    Start ``ray start --head --block`` on loopback ports and stop everything it spawned.

    :param num_cpus: CPUs the head offers to jobs.
    :param workdir: folder for Ray's session files and the head's output (a temp dir by default).
    """

    def __init__(self, num_cpus: int = 2, workdir: Path | None = None) -> None:
        self.num_cpus = num_cpus
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="kuberay-ray-"))
        self.gcs_port = free_port()
        self.dashboard_port = free_port()
        # Ray's fixed default ports (52365, ...) would collide with any other head on the machine.
        self._ports = {
            "ray-client-server-port": free_port(),
            "dashboard-agent-listen-port": free_port(),
            "dashboard-agent-grpc-port": free_port(),
            "metrics-export-port": free_port(),
            "runtime-env-agent-port": free_port(),
            "node-manager-port": free_port(),
            "object-manager-port": free_port(),
        }
        self._process: subprocess.Popen[bytes] | None = None
        self._guard: subprocess.Popen[bytes]

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "ray-head.log"

    def start(self, timeout: float = 180.0) -> LocalRayHead:
        # Ray's socket paths must stay short (AF_UNIX limit), hence a short temp dir of its own.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
        command = [
            _ray_executable(), "start", "--head", "--block",
            "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
            f"--port={self.gcs_port}", f"--dashboard-port={self.dashboard_port}",
            *(f"--{flag}={port}" for flag, port in self._ports.items()),
            f"--num-cpus={self.num_cpus}", f"--temp-dir={self.temp_dir}",
            "--disable-usage-stats", "--include-dashboard=true",
        ]  # fmt: skip
        env = {**os.environ, **_LOOPBACK_ENV, **self._quiet_env()}
        shim = loopback_shim()
        if shim is not None:
            env["LD_PRELOAD"] = " ".join(filter(None, [str(shim), env.get("LD_PRELOAD", "")]))
        log = self.log_path.open("wb")
        # A new session: every Ray process shares it, so stop() can find exactly ours.
        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        log.close()
        # If we die without stop() (SIGKILL, a time limit), the guard stops the head for us.
        self._guard = subprocess.Popen(
            [sys.executable, "-m", "devtools.local_ray", "guard", str(os.getpid()), str(self._process.pid)],
            cwd=Path(__file__).resolve().parents[1],
            stdin=subprocess.DEVNULL,
        )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self._own_workdir = False  # keep the head's log for the error message
            self.stop()
            raise
        return self

    def _quiet_env(self) -> dict[str, str]:
        """
        Keep the head off the network: even with usage stats off, Ray's dashboard probes cloud
        metadata addresses unless ~/ray_bootstrap_config.yaml exists, and posts a "disabled"
        report. HOME gets an empty bootstrap config; the report goes to a closed loopback port.
        """
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        (home / "ray_bootstrap_config.yaml").write_text("{}\n")
        return {"HOME": str(home), "RAY_USAGE_STATS_REPORT_URL": f"http://127.0.0.1:{free_port()}/"}

    def _get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.dashboard_url + path, timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def _post(self, path: str, body: dict[str, object]) -> tuple[int, str]:
        request = urllib.request.Request(
            self.dashboard_url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def _wait_ready(self, timeout: float) -> None:
        """Ready means a job really runs: submit a probe job and wait for it to succeed."""
        deadline = time.monotonic() + timeout
        probe = f"local-ray-readiness-{os.getpid()}-{time.time_ns()}"
        submitted = False
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"ray start exited with {self._process.returncode}; see {self.log_path}")
            try:
                if not submitted:
                    status, text = self._post("/api/jobs/", {"entrypoint": "true", "submission_id": probe})
                    # A submit that timed out on our side may still have gone through.
                    submitted = status == 200 or "already exists" in text
                else:
                    status, text = self._get(f"/api/jobs/{probe}")
                    if status == 200 and json.loads(text)["status"] == "SUCCEEDED":
                        self._delete(f"/api/jobs/{probe}")
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"the local Ray head did not run a job within {timeout:.0f}s; see {self.log_path}")

    def _delete(self, path: str) -> None:
        request = urllib.request.Request(self.dashboard_url + path, method="DELETE")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def session_pids(self) -> list[int]:
        """PIDs of every live process of the head's session (the head and all it spawned)."""
        return [] if self._process is None else session_pids(self._process.pid)

    def listeners(self) -> list[str]:
        """Local addresses that the head's processes listen on (``ss -ltnp``)."""
        pids = set(self.session_pids())
        output = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
        found = []
        for line in output.splitlines():
            if any(f"pid={pid}," in line for pid in pids):
                found.append(line.split()[3])
        return found

    def non_loopback_listeners(self) -> list[str]:
        """Listeners of the head that are reachable from outside this machine (should be none)."""
        return [address for address in self.listeners() if not _is_loopback(address)]

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the head's session: SIGTERM, then SIGKILL for whatever is left; only our PIDs."""
        if self._process is None:
            return
        stop_session(self._process.pid, timeout, reap=self._process.poll)
        self._process.wait(timeout=5)
        self._process = None
        self._guard.terminate()
        self._guard.wait(timeout=5)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalRayHead:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def session_pids(sid: int) -> list[int]:
    """PIDs of the live processes of session ``sid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == sid:
                    pids.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                continue
    return pids


def stop_session(sid: int, timeout: float, reap: Callable[[], object] = lambda: None) -> None:
    """SIGTERM every process of session ``sid``, then SIGKILL what is left after ``timeout``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in session_pids(sid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        end = time.monotonic() + timeout
        while session_pids(sid) and time.monotonic() < end:
            reap()
            time.sleep(0.2)
        if not session_pids(sid):
            return


def _guard(owner: int, sid: int) -> None:
    """Wait for ``owner`` to die, then stop session ``sid`` (a head its owner could not stop)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the owner stopped the head itself
    while True:
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            break
        time.sleep(1.0)
    stop_session(sid, 5.0)


def _is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    host = host.removeprefix("::ffff:")
    return host.startswith("127.") or host == "::1"


if __name__ == "__main__" and sys.argv[1:2] == ["guard"]:
    _guard(int(sys.argv[2]), int(sys.argv[3]))
