"""The harness's one real Ray head, on 127.0.0.1 with ports picked at random."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.procs import die_with_parent, free_ports, terminate_tree

# An opener that ignores *_proxy variables: the harness talks to loopback only, directly.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class RayHead:
    pid: int
    gcs_port: int
    dashboard_port: int
    client_port: int
    temp_dir: str
    log: str
    serve_port: int | None = None

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"


RAYAPPS = Path(__file__).resolve().parent / "rayapps"


def has_serve(ray_bin: Path) -> bool:
    """Whether the head's Python has Ray Serve (the `ray[serve]` extra)."""
    python = ray_bin.parent / "python"
    return (
        subprocess.run([str(python), "-c", "import ray.serve.scripts"], capture_output=True, env=clean_env()).returncode
        == 0
    )


def _quiet_head_env(temp_dir: str) -> dict[str, str]:
    """Keep the Ray head's dashboard off the network even with usage stats disabled.

    Its usage module still (1) probes cloud metadata endpoints (169.254.169.254 and a DNS name)
    unless ~/ray_bootstrap_config.yaml exists, and (2) posts a "disabled" report to Ray's usage
    server. HOME points at a directory of ours holding an empty bootstrap config, and the report
    URL at a loopback port where nothing listens.
    """
    home = Path(temp_dir) / "home"
    home.mkdir(exist_ok=True)
    (home / "ray_bootstrap_config.yaml").write_text("{}\n")
    (closed,) = free_ports(1)
    return {"HOME": str(home), "RAY_USAGE_STATS_REPORT_URL": f"http://127.0.0.1:{closed}/"}


def clean_env() -> dict[str, str]:
    # No proxy settings, and no RAY_* from the caller (a test session may point RAY_ADDRESS at
    # another Ray head): harness processes only know the harness's own addresses.
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy") and not k.startswith("RAY_")
    }
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    # Without this Ray replaces 127.0.0.1 by the machine's outward address (and binds there).
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    # Ray copies an ancestor's `uv run` command line into its workers' command; under
    # `uv run pytest` that breaks every job's workers (they run outside the project directory).
    env["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"
    return env


def start(
    ray_bin: Path,
    log_dir: Path,
    num_cpus: int = 4,
    timeout: float = 120.0,
    serve: bool = False,
    on_spawn: Callable[[int, str], None] | None = None,
) -> RayHead:
    (gcs, dash, client, agent_http, agent_grpc, metrics, node_mgr, obj_mgr, runtime_env) = free_ports(9)
    # Short path: Ray puts unix sockets under its temp dir (108-byte limit).
    temp_dir = tempfile.mkdtemp(prefix="krh-ray-", dir="/tmp")
    log = str(log_dir / "ray-head.log")
    cmd = [
        str(ray_bin),
        "start",
        "--head",
        "--block",
        "--disable-usage-stats",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        "--include-dashboard=true",
        f"--port={gcs}",
        f"--dashboard-port={dash}",
        f"--ray-client-server-port={client}",
        f"--dashboard-agent-listen-port={agent_http}",
        f"--dashboard-agent-grpc-port={agent_grpc}",
        f"--metrics-export-port={metrics}",
        f"--node-manager-port={node_mgr}",
        f"--object-manager-port={obj_mgr}",
        f"--runtime-env-agent-port={runtime_env}",
        f"--num-cpus={num_cpus}",
        "--object-store-memory=300000000",
        f"--temp-dir={temp_dir}",
    ]
    env = clean_env()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(RAYAPPS), env.get("PYTHONPATH")) if p)
    env.update(_quiet_head_env(temp_dir))
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    head = RayHead(proc.pid, gcs, dash, client, temp_dir, log)
    if on_spawn is not None:
        on_spawn(proc.pid, temp_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
            raise RuntimeError(f"ray start exited with {proc.returncode}; see {log}")
        try:
            with _DIRECT.open(f"{head.dashboard_url}/api/version", timeout=2) as r:
                json.load(r)
            with _DIRECT.open(f"{head.dashboard_url}/api/jobs/", timeout=5) as r:
                json.load(r)
            break
        except OSError:
            time.sleep(0.5)
    else:
        stop(head)
        raise RuntimeError(f"Ray head did not serve its dashboard within {timeout}s; see {log}")
    if serve:
        try:
            head.serve_port = _start_serve(ray_bin, head, log_dir)
        except Exception:
            stop(head)
            raise
    return head


def _start_serve(ray_bin: Path, head: RayHead, log_dir: Path) -> int:
    """Start Serve pinned to 127.0.0.1 and a free port before any RayService deploys to it.

    A config deployed later through the dashboard keeps the running proxy's HTTP options, so
    no app ever binds Serve's default 0.0.0.0:8000.
    """
    (port,) = free_ports(1)
    with open(log_dir / "serve-start.log", "wb") as out:
        subprocess.run(
            [
                str(ray_bin.parent / "serve"),
                "start",
                f"--address=127.0.0.1:{head.gcs_port}",
                "--http-host=127.0.0.1",
                f"--http-port={port}",
                "--proxy-location=HeadOnly",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=clean_env(),
            check=True,
            timeout=90,
            # If the harness process dies meanwhile, this client must not outlive it.
            preexec_fn=die_with_parent,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with _DIRECT.open(f"http://127.0.0.1:{port}/-/healthz", timeout=2):
                return port
        except urllib.error.HTTPError:
            return port  # it answers (503 until an app is deployed)
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"Serve proxy did not answer on 127.0.0.1:{port}")


def stop(head: RayHead) -> None:
    terminate_tree(head.pid, timeout=3)
    shutil.rmtree(head.temp_dir, ignore_errors=True)
