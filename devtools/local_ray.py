"""
The one launcher of local Ray heads (``make demo``, the tests' session fixture, the Kubernetes
harness and the benchmarks): ``ray start --head`` on free loopback ports, as a session of its own
that is stopped by its PIDs only, kept off the network, and with the launching Python's ``bin``
first on ``PATH`` so job entrypoints ``python ...`` find a Python that has Ray.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from devtools.processes import (
    die_with_parent,
    free_port,
    free_ports,
    non_loopback_listeners,
    session_pids,
    stop_session,
)

__all__ = ["LocalRayHead", "clean_env", "default_ray_bin", "free_port", "has_serve", "stop_head"]

# Ray's single-machine mode (every server on 127.0.0.1) is on only with this switch off; usage
# stats off; and under `uv run` Ray would make every worker `uv run` a copy of this project.
_RAY_SWITCHES = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
}
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
# Loopback only, directly: ignore any *_proxy variables of the caller.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_SHIM_SOURCE = Path(__file__).with_name("loopback") / "loopback_bind.c"
_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "airflow-provider-kuberay"
_REPO = Path(__file__).resolve().parents[1]


def clean_env() -> dict[str, str]:
    """
    This process's environment without proxy settings and without the caller's ``RAY_*`` (a test
    session may point ``RAY_ADDRESS`` at another head), plus Ray's switches for a local head.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key.lower() not in _PROXY_VARIABLES and not key.startswith("RAY_")
    }
    return {**env, **_RAY_SWITCHES}


def default_ray_bin() -> Path:
    """The ``ray`` command beside the running Python (the project's venv), else the one on ``PATH``."""
    beside = Path(sys.executable).with_name("ray")
    found = beside if beside.exists() else shutil.which("ray")
    if not found:
        raise RuntimeError("the `ray` command is missing: install the project with its `local` extra")
    return Path(found)


def has_serve(ray_bin: Path) -> bool:
    """Whether the Python beside ``ray_bin`` has Ray Serve (the ``ray[serve]`` extra)."""
    python = ray_bin.with_name("python")
    probe = subprocess.run([str(python), "-c", "import ray.serve.scripts"], capture_output=True, env=clean_env())
    return probe.returncode == 0


def ray_release(ray_bin: Path) -> tuple[int, ...]:
    """The Ray release installed beside ``ray_bin``, read from its package metadata (no Ray import)."""
    python = ray_bin.with_name("python")
    code = "from importlib.metadata import version; print(version('ray'))"
    found = subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=clean_env(), check=True)
    return tuple(int(part) for part in re.findall(r"\d+", found.stdout)[:3])


def loopback_shim() -> Path | None:
    """
    Build (once, into the user cache) the LD_PRELOAD shim that turns "listen everywhere" into
    "listen on loopback"; ``None`` where no C compiler exists (the listener checks then tell).
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


def _quiet_home(temp_dir: Path) -> dict[str, str]:
    """
    Keep the head off the network: even with usage stats off, Ray's dashboard probes cloud
    metadata addresses unless ~/ray_bootstrap_config.yaml exists, and posts a "disabled" report.
    HOME gets an empty bootstrap config; the report goes to a closed loopback port.
    """
    home = temp_dir / "home"
    home.mkdir(exist_ok=True)
    (home / "ray_bootstrap_config.yaml").write_text("{}\n")
    return {"HOME": str(home), "RAY_USAGE_STATS_REPORT_URL": f"http://127.0.0.1:{free_port()}/"}


def _prepend(path: str, entries: Sequence[Path]) -> str:
    return os.pathsep.join([*(str(entry) for entry in entries), *filter(None, path.split(os.pathsep))])


def _call(request: urllib.request.Request | str, timeout: float) -> tuple[int, str]:
    try:
        with _DIRECT.open(request, timeout=timeout) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


class _HeadExited(RuntimeError):
    """``ray start`` exited before the head was ready."""


def stop_head(pid: int, timeout: float = 5.0, reap: Callable[[], object] | None = None) -> None:
    """Stop the head started as ``pid`` (a session leader) and everything of its session."""
    stop_session(pid, timeout, reap=reap)


class LocalRayHead:
    """
    ``ray start --head --block`` on free loopback ports, started as a session of its own.

    :param num_cpus: CPUs the head offers to jobs.
    :param workdir: folder for the head's output log (a temp dir, removed at stop, by default).
    :param ray_bin: the ``ray`` command; its folder goes first on the head's ``PATH``.
    :param pythonpath: folders put first on the head's ``PYTHONPATH`` (code its jobs import).
    :param object_store_bytes: the object store's size (Ray's default when ``None``).
    :param serve: also start Ray Serve, pinned to 127.0.0.1 and a free port (``serve_port``).
    :param guard: start a guard process that stops the head if this process dies without doing so.
    :param on_spawn: called with the head's PID and temp dir the moment it is spawned.
    :param attempts: how often to spawn the head when ``ray start`` exits (on a loaded machine the
        raylet can miss Ray's own startup deadline).
    :param extra_env: variables added to the head's clean environment (and so its jobs'); the
        caller's own environment never reaches the head.
    :param auth_token: start the head with Ray token authentication (``RAY_AUTH_MODE=token``,
        ``RAY_AUTH_TOKEN``); the readiness probe sends it.
    """

    def __init__(
        self,
        num_cpus: int = 2,
        workdir: Path | None = None,
        *,
        ray_bin: Path | None = None,
        pythonpath: Sequence[Path] = (),
        object_store_bytes: int | None = None,
        serve: bool = False,
        guard: bool = True,
        on_spawn: Callable[[int, Path], None] | None = None,
        attempts: int = 2,
        extra_env: Mapping[str, str] | None = None,
        auth_token: str | None = None,
    ) -> None:
        self.num_cpus = num_cpus
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="kuberay-ray-"))
        self.ray_bin = ray_bin or default_ray_bin()
        self._pythonpath = list(pythonpath)
        self._object_store_bytes = object_store_bytes
        self._serve = serve
        self._guard_wanted = guard
        self._on_spawn = on_spawn
        self._attempts = attempts
        self._extra_env = dict(extra_env or {})
        self.auth_token = auth_token
        self.gcs_port, self.dashboard_port, *rest = free_ports(9)
        # Ray's fixed default ports (52365, ...) would collide with any other head on the machine.
        self._ports = dict(
            zip(
                (
                    "ray-client-server-port",
                    "dashboard-agent-listen-port",
                    "dashboard-agent-grpc-port",
                    "metrics-export-port",
                    "runtime-env-agent-port",
                    "node-manager-port",
                    "object-manager-port",
                ),
                rest,
                strict=True,
            )
        )
        self.serve_port: int | None = None
        # Ray's socket paths must stay short (AF_UNIX limit), hence a short temp dir of its own.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
        self.pid: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._guard: subprocess.Popen[bytes] | None = None

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "ray-head.log"

    def environment(self) -> dict[str, str]:
        """The head's environment (inherited by its jobs): clean, quiet, loopback-only, venv first."""
        env = {**clean_env(), **_quiet_home(self.temp_dir)}
        # Job entrypoints run `python ...` from the head's PATH: it must find the Python that has Ray.
        env["PATH"] = _prepend(env.get("PATH", ""), [self.ray_bin.parent])
        if self._pythonpath:
            env["PYTHONPATH"] = _prepend(env.get("PYTHONPATH", ""), self._pythonpath)
        shim = loopback_shim()
        if shim is not None:
            env["LD_PRELOAD"] = " ".join(filter(None, [str(shim), env.get("LD_PRELOAD", "")]))
        env.update(self._extra_env)
        if self.auth_token is not None:
            # The environment variable, not RAY_AUTH_TOKEN_PATH: with a token file, Ray 2.60's raylet
            # gave up waiting for its dashboard agent (seen on every start), with the variable it runs.
            env.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.auth_token})
        return env

    def _headers(self) -> dict[str, str]:
        """What the launcher's own requests to the dashboard carry (the token of a token head)."""
        return {"Authorization": f"Bearer {self.auth_token}"} if self.auth_token is not None else {}

    def start(self, timeout: float = 180.0) -> LocalRayHead:
        """Spawn the head and wait until it runs a job (and Serve answers, if asked for)."""
        env = self.environment()
        for attempt in range(1, self._attempts + 1):
            self._spawn(env)
            try:
                self._wait_ready(timeout)
                if self._serve:
                    self.serve_port = self._start_serve(env)
                return self
            except _HeadExited:
                if attempt < self._attempts:
                    self._stop_processes(timeout=5.0)
                    continue
                self._fail()
                raise
            except BaseException:
                self._fail()
                raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _fail(self) -> None:
        self._own_workdir = False  # keep the head's log for the error message
        self.stop()

    def _spawn(self, env: dict[str, str]) -> None:
        command = [
            str(self.ray_bin), "start", "--head", "--block",
            "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
            f"--port={self.gcs_port}", f"--dashboard-port={self.dashboard_port}",
            *(f"--{flag}={port}" for flag, port in self._ports.items()),
            f"--num-cpus={self.num_cpus}", f"--temp-dir={self.temp_dir}",
            "--disable-usage-stats", "--include-dashboard=true",
        ]  # fmt: skip
        if self._object_store_bytes is not None:
            command.append(f"--object-store-memory={self._object_store_bytes}")
        with self.log_path.open("ab") as log:
            # A new session: every Ray process shares it, so stop() finds exactly ours.
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )
        self.pid = self._process.pid
        if self._on_spawn is not None:
            self._on_spawn(self.pid, self.temp_dir)
        if self._guard_wanted:
            # If we die without stop() (SIGKILL, a time limit), the guard stops the head for us.
            self._guard = subprocess.Popen(
                [sys.executable, "-m", "devtools.local_ray", "guard", str(os.getpid()), str(self.pid)],
                cwd=_REPO,
                stdin=subprocess.DEVNULL,
            )

    def _wait_ready(self, timeout: float) -> None:
        """Ready means a job really runs: submit a probe job and wait for it to succeed."""
        deadline = time.monotonic() + timeout
        probe = f"local-ray-readiness-{os.getpid()}-{time.time_ns()}"
        submitted = False
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise _HeadExited(f"ray start exited with {self._process.returncode}; see {self.log_path}")
            try:
                if not submitted:
                    body = json.dumps({"entrypoint": "true", "submission_id": probe}).encode()
                    headers = {"Content-Type": "application/json", **self._headers()}
                    request = urllib.request.Request(self.dashboard_url + "/api/jobs/", data=body, headers=headers)
                    status, text = _call(request, timeout=60)
                    # A submit that timed out on our side may still have gone through.
                    submitted = status == 200 or "already exists" in text
                else:
                    job_url = f"{self.dashboard_url}/api/jobs/{probe}"
                    status, text = _call(urllib.request.Request(job_url, headers=self._headers()), timeout=5)
                    if status == 200 and json.loads(text)["status"] == "SUCCEEDED":
                        _call(urllib.request.Request(job_url, headers=self._headers(), method="DELETE"), 10)
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"the local Ray head did not run a job within {timeout:.0f}s; see {self.log_path}")

    def _start_serve(self, env: dict[str, str]) -> int:
        """
        Start Serve pinned to 127.0.0.1 and a free port before any app deploys to it: a config
        deployed later through the dashboard keeps the running proxy's HTTP options, so no app
        ever binds Serve's default 0.0.0.0:8000.
        """
        port = free_port()
        command = [
            str(self.ray_bin.with_name("serve")), "start", f"--address=127.0.0.1:{self.gcs_port}",
            "--http-host=127.0.0.1", f"--http-port={port}", "--proxy-location=HeadOnly",
        ]  # fmt: skip
        with (self.workdir / "serve-start.log").open("wb") as log:
            # If this process dies meanwhile, the Serve client must not outlive it.
            subprocess.run(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, check=True, timeout=90,
                preexec_fn=die_with_parent,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                _call(f"http://127.0.0.1:{port}/-/healthz", timeout=2)  # any answer (503 before an app)
                return port
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"the Serve proxy did not answer on 127.0.0.1:{port}")

    def session_pids(self) -> list[int]:
        """PIDs of every live process of the head's session (the head and all it spawned)."""
        return [] if self.pid is None else session_pids(self.pid)

    def non_loopback_listeners(self) -> list[str]:
        """Listeners of the head reachable from outside this machine (``ss`` lines; should be none)."""
        return non_loopback_listeners(self.session_pids())

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the head's session (SIGTERM, then SIGKILL what is left; only our PIDs) and clean up."""
        self._stop_processes(timeout)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _stop_processes(self, timeout: float) -> None:
        if self._process is not None:
            stop_head(self._process.pid, timeout, reap=self._process.poll)
            self._process.wait(timeout=5)
            self._process = None
        if self._guard is not None:
            self._guard.terminate()
            self._guard.wait(timeout=5)
            self._guard = None

    def __enter__(self) -> LocalRayHead:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _guard(owner: int, sid: int) -> None:
    """Wait for ``owner`` to die, then stop head ``sid`` (a head its owner could not stop)."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the owner stopped the head itself
    while True:
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            break
        time.sleep(1.0)
    stop_head(sid)


if __name__ == "__main__" and sys.argv[1:2] == ["guard"]:
    _guard(int(sys.argv[2]), int(sys.argv[3]))
