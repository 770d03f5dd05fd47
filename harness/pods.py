"""Pods that really run: a sandbox (network namespace, files) and containers as local processes.

Each container runs through ``harness/podexec.py`` in the pod's network namespace, with the pod's
``/etc/hosts``, an ``/etc/resolv.conf`` that points at nothing, a ``/tmp`` of its own, the pod's
volumes (``emptyDir`` and the projected service-account token) bound where the spec mounts them,
the pod's hostname and a PID namespace. The venv's bin directory stands for the image: it is first
on ``PATH``. The PID recorded for a container is podexec's; stopping it stops the container's whole
PID namespace.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.processes import children
from harness import podspec
from harness.logserver import exit_marker, log_path

log = logging.getLogger("harness.pods")
PODEXEC = Path(__file__).resolve().parent / "podexec.py"
REPO = Path(__file__).resolve().parents[1]
RAYAPPS = REPO / "harness" / "rayapps"
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
# The grace period a deleted pod gets at most. `ray start --block` stops Ray at once on SIGTERM but
# then often hangs in its exit; a kubelet would wait out the pod's 30 s, which tests cannot afford.
MAX_GRACE = 5.0
# Probes run at least this often (KubeRay asks for every 5 s after 10 s): tests wait on readiness.
PROBE_PERIOD_CAP = 2.0
PROBE_DELAY_CAP = 1.0
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Container:
    name: str
    spec: Any
    log: Path
    init: bool = False
    proc: subprocess.Popen | None = None
    started_at: str | None = None
    restarts: int = 0
    last_state: dict[str, Any] | None = None
    ended: dict[str, Any] | None = None  # terminated state, if it will not run again
    waiting: str | None = None  # reason while waiting for a (re)start
    waiting_message: str | None = None  # why, when the reason alone does not say (a config error)
    next_start: float = 0.0
    ready: bool = False
    next_probe: float = 0.0
    probing: bool = False

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def state(self) -> dict[str, Any]:
        if self.running():
            return {"running": {"startedAt": self.started_at}}
        if self.ended is not None:
            return {"terminated": self.ended}
        waiting = {"reason": self.waiting or "PodInitializing"}
        if self.waiting_message:
            waiting["message"] = self.waiting_message
        return {"waiting": waiting}


@dataclass
class Sandbox:
    """One real pod: its IP, network namespace, files and containers."""

    uid: str
    name: str
    namespace: str
    ip: str
    netns: str
    dir: Path
    pod: Any
    inits: list[Container] = field(default_factory=list)
    containers: list[Container] = field(default_factory=list)
    volumes: dict[str, Path] = field(default_factory=dict)
    hosts_text: str = ""
    stopping: bool = False  # no more (re)starts: finished or being deleted
    deleting: bool = False
    stopped: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def hosts(self) -> Path:
        return self.dir / "hosts"

    def all(self) -> list[Container]:
        return [*self.inits, *self.containers]


class Runtime:
    """Starts, watches, restarts, probes and stops the containers of real pods."""

    def __init__(
        self,
        *,
        node: str,
        bin_dir: Path,
        log_dir: Path,
        pod_dir: Path,
        image_env: dict[str, str],
        secret: Callable[[str, Any], str],
    ) -> None:
        self.node = node
        self.secret = secret  # reads a secretKeyRef's value from the API server
        self.bin_dir = bin_dir
        self.log_dir = log_dir
        self.pod_dir = pod_dir
        self.image_env = image_env  # API server address for pods (KUBERNETES_SERVICE_*), and such
        self._probes: list[threading.Thread] = []

    # --- sandbox -------------------------------------------------------------------------------

    def make_sandbox(self, pod: Any, ip: str, netns: str, volumes: dict[str, Path]) -> Sandbox:
        meta = pod.metadata
        d = self.pod_dir / f"{meta.namespace}_{meta.name}_{meta.uid[:8]}"
        d.mkdir(parents=True, exist_ok=True)
        (d / "resolv.conf").write_text("nameserver 127.0.0.1\noptions attempts:1 timeout:1\n")
        home = d / "home"
        home.mkdir(exist_ok=True)
        # Ray's usage module probes cloud metadata endpoints unless this file exists.
        (home / "ray_bootstrap_config.yaml").write_text("{}\n")
        box = Sandbox(meta.uid, meta.name, meta.namespace, ip, netns, d, pod, volumes=volumes)
        for c in pod.spec.init_containers or []:
            box.inits.append(Container(c.name, c, self._log(pod, c.name), init=True))
        for c in pod.spec.containers:
            box.containers.append(Container(c.name, c, self._log(pod, c.name)))
        return box

    def _log(self, pod: Any, container: str) -> Path:
        return log_path(self.log_dir, pod.metadata.namespace, pod.metadata.name, container)

    def set_hosts(self, box: Sandbox, text: str) -> None:
        if text == box.hosts_text:
            return
        # Rewritten in place: the containers see it through a bind mount of this very file.
        with open(box.hosts, "w") as f:
            f.write(text)
        box.hosts_text = text

    # --- containers ----------------------------------------------------------------------------

    def _env(self, box: Sandbox, c: Container) -> dict[str, str]:
        base = {
            "PATH": f"{self.bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(box.dir / "home"),
            "LANG": "C.UTF-8",
            "HOSTNAME": box.name,
            # The "image" ships the harness's Serve apps.
            "PYTHONPATH": str(RAYAPPS),
            **self.image_env,
        }
        extra: dict[str, str] = {}
        # The test session's process tag, so a pod's process left alive is found as the session's own.
        if "KUBERAY_TEST_PROCESS_TAG" in os.environ:
            extra["KUBERAY_TEST_PROCESS_TAG"] = os.environ["KUBERAY_TEST_PROCESS_TAG"]
        return podspec.container_env(box.pod, c.spec, box.ip, self.node, base, extra, self.secret)

    def _binds(self, box: Sandbox, c: Container) -> list[str]:
        tmp = box.dir / "tmp" / c.name
        tmp.mkdir(parents=True, exist_ok=True)
        binds = [f"{box.hosts}:/etc/hosts:ro", f"{box.dir / 'resolv.conf'}:/etc/resolv.conf:ro", f"{tmp}:/tmp"]
        # The "image" (the venv with Ray, this checkout with the Serve apps) stays visible where the
        # pod's own /tmp would hide it: a checkout or venv under /tmp (e.g. CI's clone).
        for image_dir in (self.bin_dir.parent, REPO):
            if image_dir.is_relative_to("/tmp"):
                binds.append(f"{image_dir}:{image_dir}:ro")
        for m in c.spec.volume_mounts or []:
            src = box.volumes.get(m.name)
            if src is None:
                continue
            if m.sub_path:
                src = src / m.sub_path
            binds.append(f"{src}:{m.mount_path}{':ro' if m.read_only else ''}")
        return binds

    def start(self, box: Sandbox, c: Container) -> None:
        try:
            env = self._env(box, c)
        except Exception as err:  # as a kubelet: the pod says why (e.g. an unreadable Secret); retried next sync
            if c.waiting_message != str(err):
                log.warning("pod %s/%s: container %s: %s", box.namespace, box.name, c.name, err)
            c.waiting, c.waiting_message = "CreateContainerConfigError", str(err)
            return
        argv = podspec.command(c.spec, env)
        cmd = [sys.executable, "-S", str(PODEXEC), "--id", f"{box.uid}/{c.name}", "--netns", box.netns]
        cmd += ["--hostname", box.name]
        for b in self._binds(box, c):
            cmd += ["--bind", b]
        if c.spec.working_dir:
            cmd += ["--cwd", c.spec.working_dir]
        cmd += ["--", *argv]
        with open(c.log, "ab") as out:
            c.proc = subprocess.Popen(
                cmd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=box.dir,
                start_new_session=True,
            )
        c.started_at = now()
        c.waiting = c.waiting_message = None
        c.ready = c.spec.readiness_probe is None
        probe = c.spec.readiness_probe
        c.next_probe = time.monotonic() + min(float(probe.initial_delay_seconds or 0), PROBE_DELAY_CAP) if probe else 0
        log.info("pod %s/%s: container %s started (pid %d)", box.namespace, box.name, c.name, c.proc.pid)

    def reap(self, box: Sandbox, c: Container) -> bool:
        """Notice a container's exit; decide on a restart. True if its state changed."""
        if c.proc is None or c.ended is not None:
            return False
        code = c.proc.poll()
        if code is None:
            return False
        state = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": c.started_at,
            "finishedAt": now(),
            "containerID": f"harness://{box.uid}/{c.name}",
        }
        c.proc = None
        c.ready = False
        policy = podspec.restart_policy(box.pod)
        again = not box.stopping and (
            (policy == "Always" and not c.init) or (policy in ("Always", "OnFailure") and code != 0)
        )
        log.info("pod %s/%s: container %s exited %s", box.namespace, box.name, c.name, code)
        if again:
            c.last_state = {"terminated": state}
            c.waiting = "CrashLoopBackOff" if c.restarts else "ContainerCreating"
            # A kubelet's back-off: at once the first time, then 10 s doubling to 5 min.
            c.next_start = time.monotonic() + (min(10 * 2 ** (c.restarts - 1), 300) if c.restarts else 0)
            c.restarts += 1
        else:
            c.ended = state
            exit_marker(c.log).write_text(f"{code}\n")
        return True

    def due_restarts(self, box: Sandbox) -> list[Container]:
        t = time.monotonic()
        return [c for c in box.containers if c.proc is None and c.ended is None and c.started_at and t >= c.next_start]

    # --- probes --------------------------------------------------------------------------------

    def probe_due(self, box: Sandbox) -> None:
        """Start the readiness probes that are due, each in a thread of its own."""
        t = time.monotonic()
        for c in box.containers:
            probe = c.spec.readiness_probe
            if probe is None or not c.running() or c.probing or t < c.next_probe:
                continue
            c.probing = True
            c.next_probe = t + min(float(probe.period_seconds or 10), PROBE_PERIOD_CAP)
            threading.Thread(target=self._probe, args=(box, c, probe), daemon=True).start()

    def _probe(self, box: Sandbox, c: Container, probe: Any) -> None:
        try:
            ok = self.check(box, c, probe)
        except Exception as e:  # a probe that cannot run fails
            log.debug("probe %s/%s %s: %s", box.name, c.name, probe, e)
            ok = False
        finally:
            c.probing = False
        if c.running():
            c.ready = ok

    def check(self, box: Sandbox, c: Container, probe: Any) -> bool:
        timeout = max(float(probe.timeout_seconds or 1), 1.0)
        if probe._exec is not None:
            env = self._env(box, c)
            argv = [podspec.expand(a, env) for a in probe._exec.command]
            # In the pod's network namespace, where `localhost` is the pod.
            done = subprocess.run(
                ["nsenter", f"--net=/run/netns/{box.netns}", "--", *argv],
                env=env,
                capture_output=True,
                timeout=timeout + 1,
                cwd=box.dir,
            )
            return done.returncode == 0
        if probe.http_get is not None:
            h = probe.http_get
            url = f"http://{box.ip}:{self._port(c, h.port)}{h.path or '/'}"
            try:
                with _DIRECT.open(url, timeout=timeout) as r:
                    return 200 <= r.status < 400
            except OSError:
                return False
        if probe.tcp_socket is not None:
            try:
                socket.create_connection((box.ip, self._port(c, probe.tcp_socket.port)), timeout=timeout).close()
                return True
            except OSError:
                return False
        return True

    @staticmethod
    def _port(c: Container, port: Any) -> int:
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for p in c.spec.ports or []:
            if p.name == port:
                return int(p.container_port)
        raise ValueError(f"no port named {port}")

    # --- stopping ------------------------------------------------------------------------------

    def stop(self, box: Sandbox, grace: float) -> None:
        """SIGTERM every container's process, SIGKILL what is left after the grace period; wait."""
        box.stopping = True
        procs = [c.proc for c in box.all() if c.proc is not None and c.proc.poll() is None]
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + min(grace, MAX_GRACE)
        while time.monotonic() < deadline and any(p.poll() is None for p in procs):
            time.sleep(0.1)
        for p in procs:
            if p.poll() is None:
                # podexec's init first: its death takes the whole PID namespace, then podexec exits.
                for pid in [*children(p.pid), p.pid]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=10)  # SIGKILLed: bounded anyway, a stuck exit must not hang the kubelet
        for c in box.all():
            self.reap(box, c)
            if c.ended is None and c.started_at:
                exit_marker(c.log).write_text("137\n")

    def discard(self, box: Sandbox) -> None:
        shutil.rmtree(box.dir, ignore_errors=True)


def find_container_pid(uid: str, container: str) -> int | None:
    """The host PID of a running container's process (its podexec), found by its ``--id``."""
    wanted = ["--id", f"{uid}/{container}"]
    found: dict[int, int] = {}  # pid -> parent pid
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if str(PODEXEC) in argv and any(argv[i : i + 2] == wanted for i in range(len(argv) - 1)):
                found[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
    # podexec's init process is a fork of it, with the same command line: the outer one is the PID.
    outer = [pid for pid, parent in found.items() if parent not in found]
    return outer[0] if outer else None
