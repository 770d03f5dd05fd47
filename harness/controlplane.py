"""Start and stop the harness: etcd, kube-apiserver, kube-controller-manager, the KubeRay CRDs and
operator, a local Ray head, and the node agent (test kubelet, forward proxy, pod-network relay).

    python -m harness.controlplane up       # prints the kubeconfig path
    python -m harness.controlplane status
    python -m harness.controlplane down

Everything listens on 127.0.0.1 (or inside the pod network namespace made here) on ports picked
at random, and everything is stopped by the PIDs recorded in the run directory's state.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from devtools.local_ray import LocalRayHead, clean_env, has_serve, stop_head
from devtools.processes import alive, free_ports, non_loopback_listeners, terminate_tree
from harness import build, netns, pki

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RUN_DIR = build.CACHE / "run"
RBAC_DIR = Path(__file__).resolve().parent / "rbac"
RAYAPPS = Path(__file__).resolve().parent / "rayapps"  # code the harness's Ray apps import
SERVICE_CIDR = "10.96.0.0/16"  # only ever stored in objects: nothing here dials a ClusterIP
RAY_PID_FILE = "ray-head.json"
# Each component normally needs seconds; the slack is for a loaded 2-core machine.
STARTUP_TIMEOUT = 180


def ray_bin() -> Path:
    """The `ray` command of the harness's Ray head: KUBERAY_HARNESS_RAY, else the one beside this Python."""
    return Path(os.environ.get("KUBERAY_HARNESS_RAY") or Path(sys.executable).parent / "ray")


def crd_dir() -> Path:
    env = os.environ.get("KUBERAY_CRD_DIR")
    return Path(env) if env else REPO.parent / "shared" / "kuberay" / "crds"


@dataclass
class State:
    run_dir: str
    kubeconfig: str
    server: str
    pids: dict[str, int] = field(default_factory=dict)  # started in this order
    ports: dict[str, int] = field(default_factory=dict)
    netns: str | None = None
    netns_index: int | None = None
    ray_temp_dir: str | None = None
    started_s: float = 0.0

    def save(self) -> None:
        Path(self.run_dir, "state.json").write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, run_dir: Path) -> State | None:
        p = run_dir / "state.json"
        return cls(**json.loads(p.read_text())) if p.is_file() else None


class HarnessError(RuntimeError):
    pass


def _spawn(name: str, argv: list[str], run_dir: Path, env: dict[str, str] | None = None) -> int:
    log = run_dir / "logs" / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env if env is not None else clean_env(),
            cwd=run_dir,
            start_new_session=True,
        )
    return proc.pid


def _wait(what: str, check: Callable[[], Any], timeout: float, pid: int | None = None, log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if pid is not None and not alive(pid):
            tail = log.read_text()[-3000:] if log and log.is_file() else ""
            raise HarnessError(f"{what}: process exited\n{tail}")
        try:
            got = check()
            if got:
                return got
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.3)
    raise HarnessError(f"{what}: not ready after {timeout}s ({last})")


def _http_ok(url: str, token: str | None = None, ca: Path | None = None) -> bool:
    import ssl
    import urllib.request

    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    handlers: list[Any] = [urllib.request.ProxyHandler({})]
    if ca is not None:
        handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=str(ca))))
    with urllib.request.build_opener(*handlers).open(req, timeout=3) as r:
        return r.status == 200


def _apply_docs(api: Any, docs: list[dict]) -> None:
    from kubernetes import dynamic
    from kubernetes.client.rest import ApiException

    dyn = dynamic.DynamicClient(api)
    for doc in docs:
        if not doc:
            continue
        res = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        try:
            res.create(body=doc, namespace=doc["metadata"].get("namespace"))
        except ApiException as e:
            if e.status != 409:
                raise


def _load_yaml(path: Path) -> list[dict]:
    import yaml

    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def install_crds(api: Any, folder: Path) -> None:
    """Create the CRDs of every YAML file in ``folder`` (existing ones are kept) and wait until they are served."""
    from kubernetes import client

    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise HarnessError(f"no CRDs found in {folder}")
    docs = [d for f in files for d in _load_yaml(f)]
    _apply_docs(api, docs)
    ext = client.ApiextensionsV1Api(api)

    def established() -> bool:
        for d in docs:
            crd = ext.read_custom_resource_definition(d["metadata"]["name"])
            conds = {c.type: c.status for c in (crd.status.conditions or [])}
            if conds.get("Established") != "True":
                return False
        return True

    _wait("CRDs established", established, STARTUP_TIMEOUT)


def up(run_dir: Path = DEFAULT_RUN_DIR, log: Any = print, owner_pid: int | None = None) -> State:
    """Start everything; on any failure stop what was started and raise.

    With owner_pid (the pytest process), a watchdog started first tears everything down by itself
    if that process dies without doing so (SIGKILL, a CI time limit), so nothing outlives the tests.
    """
    t0 = time.monotonic()
    bins = build.resolved()
    if bins is None:
        raise HarnessError("harness binaries are not built: run `make k8s-build` (or `python -m harness.build`)")
    role = bins.operator_role
    why = netns.available()
    if why:
        raise HarnessError(f"cannot create the pod network namespace: {why}")
    existing = State.load(run_dir)
    if existing is not None and any(alive(p) for p in existing.pids.values()):
        raise HarnessError(f"a harness is already running from {run_dir}; run `down` first")
    if run_dir.exists():
        shutil.rmtree(run_dir)
    (run_dir / "logs").mkdir(parents=True)
    etcd_port, etcd_peer, api_port, proxy_port = free_ports(4)
    server = f"https://127.0.0.1:{api_port}"
    state = State(
        run_dir=str(run_dir),
        kubeconfig=str(run_dir / "kubeconfig"),
        server=server,
        ports={"etcd": etcd_port, "etcd_peer": etcd_peer, "apiserver": api_port, "proxy": proxy_port},
    )
    if owner_pid is not None:
        state.pids["watchdog"] = _spawn(
            "watchdog",
            [sys.executable, "-m", "harness.watchdog", "--owner", str(owner_pid), "--run-dir", str(run_dir)],
            run_dir,
            env={**clean_env(), "PYTHONPATH": str(REPO)},
        )
    state.save()
    try:
        _up(state, bins, role, log)
    except BaseException:
        down(run_dir, log=log)
        raise
    state.started_s = round(time.monotonic() - t0, 1)
    state.save()
    log(f"[harness] control plane up in {state.started_s}s; KUBECONFIG={state.kubeconfig}")
    return state


def _up(state: State, bins: build.Binaries, role: Path, log: Any) -> None:
    run_dir = Path(state.run_dir)
    logs = run_dir / "logs"
    net = netns.create()
    state.netns, state.netns_index = net.name, net.index
    state.save()

    certs = pki.make_pki(run_dir / "pki", kubelet_ip=net.ns_ip, apiserver_ips=(net.gateway,))
    tokens = pki.make_tokens(run_dir / "pki" / "tokens.csv")
    for name, (user, _groups) in pki.IDENTITIES.items():
        path = run_dir / ("kubeconfig" if name == "admin" else f"{name}.kubeconfig")
        path.write_text(pki.kubeconfig(state.server, certs["ca"], tokens[name], user))
        path.chmod(0o600)

    # The Ray head starts slowest; let it come up while the control plane does.
    head_ray_bin = ray_bin()
    serve = has_serve(head_ray_bin)
    if not serve:
        log("[harness] Ray Serve is not installed (ray[serve]): RayServices cannot serve here")
    ray_result: dict[str, Any] = {}

    import threading

    def record_ray(pid: int, temp_dir: Path) -> None:
        # Recorded at once (in a file of its own: `state` belongs to the main thread), so a
        # `down` or the watchdog stops it even while it is still starting.
        (run_dir / RAY_PID_FILE).write_text(json.dumps({"pid": pid, "temp_dir": str(temp_dir)}))

    def start_ray() -> None:
        # No guard of its own: the watchdog stops it, and `up` from the CLI outlives its caller.
        head = LocalRayHead(
            num_cpus=4,
            workdir=logs,
            ray_bin=head_ray_bin,
            pythonpath=[RAYAPPS],
            object_store_bytes=300_000_000,
            serve=serve,
            guard=False,
            on_spawn=record_ray,
        )
        try:
            ray_result["head"] = head.start(timeout=STARTUP_TIMEOUT)
        except Exception as e:
            ray_result["error"] = e
            log(f"[harness] the Ray head did not start: {e}")

    ray_thread = threading.Thread(target=start_ray, name="ray-head")
    ray_thread.start()

    try:
        p = state.ports
        state.pids["etcd"] = _spawn(
            "etcd",
            [
                str(bins.etcd),
                "--name=harness",
                f"--data-dir={run_dir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{p['etcd']}",
                f"--advertise-client-urls=http://127.0.0.1:{p['etcd']}",
                f"--listen-peer-urls=http://127.0.0.1:{p['etcd_peer']}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{p['etcd_peer']}",
                f"--initial-cluster=harness=http://127.0.0.1:{p['etcd_peer']}",
                "--unsafe-no-fsync",
                "--quota-backend-bytes=2147483648",
                "--log-level=warn",
            ],
            run_dir,
        )
        state.save()
        _wait(
            "etcd",
            lambda: _http_ok(f"http://127.0.0.1:{p['etcd']}/health"),
            STARTUP_TIMEOUT,
            state.pids["etcd"],
            logs / "etcd.log",
        )

        state.pids["kube-apiserver"] = _spawn(
            "kube-apiserver",
            [
                str(bins.kube_apiserver),
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={p['apiserver']}",
                f"--etcd-servers=http://127.0.0.1:{p['etcd']}",
                f"--cert-dir={run_dir / 'pki'}",
                f"--tls-cert-file={certs['cert']}",
                f"--tls-private-key-file={certs['key']}",
                f"--client-ca-file={certs['ca']}",
                f"--token-auth-file={run_dir / 'pki' / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                f"--service-account-key-file={certs['sa_pub']}",
                f"--service-account-signing-key-file={certs['sa_key']}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--endpoint-reconciler-type=none",
                # Node addresses are only ever the InternalIP inside the pod network namespace.
                "--kubelet-preferred-address-types=InternalIP",
                f"--kubelet-certificate-authority={certs['ca']}",
                "--allow-privileged=true",
                "--profiling=false",
                "--v=1",
            ],
            run_dir,
        )
        state.save()
        admin_token = tokens["admin"]
        _wait(
            "kube-apiserver",
            lambda: _http_ok(f"{state.server}/readyz", admin_token, certs["ca"]),
            STARTUP_TIMEOUT,
            state.pids["kube-apiserver"],
            logs / "kube-apiserver.log",
        )

        from kubernetes import config as kconfig

        api = kconfig.new_client_from_config(config_file=state.kubeconfig)
        _apply_docs(
            api,
            _load_yaml(role) + _load_yaml(RBAC_DIR / "operator-binding.yaml") + _load_yaml(RBAC_DIR / "kubelet.yaml"),
        )
        install_crds(api, crd_dir())  # KUBERAY_CRD_DIR

        state.pids["kube-controller-manager"] = _spawn(
            "kube-controller-manager",
            [
                str(bins.kube_controller_manager),
                f"--kubeconfig={run_dir / 'controller-manager.kubeconfig'}",
                "--secure-port=0",
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={certs['sa_key']}",
                f"--root-ca-file={certs['ca']}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--cluster-name=kuberay-harness",
                # Quick GC and Job reconciliation matter more here than API load.
                "--concurrent-gc-syncs=5",
                "--v=1",
            ],
            run_dir,
        )
        state.save()

        from kubernetes import client

        core = client.CoreV1Api(api)
        _wait(
            "default service account",
            lambda: core.read_namespaced_service_account("default", "default"),
            STARTUP_TIMEOUT,
            state.pids["kube-controller-manager"],
            logs / "kube-controller-manager.log",
        )

    except BaseException:
        # Do not leave a Ray head behind whose PID was never recorded.
        ray_thread.join()
        if "head" in ray_result:
            ray_result["head"].stop(timeout=3)
        raise

    ray_thread.join()
    if "head" not in ray_result:
        raise HarnessError(f"local Ray head: {ray_result['error']}")
    head: LocalRayHead = ray_result["head"]
    assert head.pid is not None  # started
    state.pids["ray-head"] = head.pid
    state.ray_temp_dir = str(head.temp_dir)
    p["ray_dashboard"], p["ray_gcs"] = head.dashboard_port, head.gcs_port
    if head.serve_port:
        p["ray_serve"] = head.serve_port
    state.save()

    agent_cfg = {
        "kubeconfig": str(run_dir / "kubelet.kubeconfig"),
        "pod_cidr": str(net.pod_cidr),
        "dashboard_port": head.dashboard_port,
        "serve_port": head.serve_port,
        "proxy_port": p["proxy"],
        "apiserver_port": p["apiserver"],
        "netns": net.name,
        "netns_index": net.index,
        "bin_dir": str(head_ray_bin.parent),
        "log_dir": str(logs / "pods"),
        "pod_dir": str(run_dir / "pods"),
        "ca_file": str(certs["ca"]),
        "ready_file": str(run_dir / "agent.ready"),
        "run_dir": str(run_dir),
        "kubelet_cert": str(certs["kubelet_cert"]),
        "kubelet_key": str(certs["kubelet_key"]),
    }
    (run_dir / "agent.json").write_text(json.dumps(agent_cfg, indent=2))
    state.pids["agent"] = _spawn(
        "agent",
        [sys.executable, "-m", "harness.agent", "--config", str(run_dir / "agent.json")],
        run_dir,
        env={**clean_env(), "PYTHONPATH": str(REPO)},
    )
    state.save()
    _wait(
        "agent", lambda: (run_dir / "agent.ready").is_file(), STARTUP_TIMEOUT, state.pids["agent"], logs / "agent.log"
    )

    # Only the operator gets the proxy, and nothing is exempted from it (no NO_PROXY): its
    # Kubernetes client talks to 127.0.0.1, which Go never proxies anyway.
    op_env = clean_env()
    op_env.update(
        {
            "KUBECONFIG": str(run_dir / "operator.kubeconfig"),
            "HTTP_PROXY": f"http://127.0.0.1:{p['proxy']}",
            "http_proxy": f"http://127.0.0.1:{p['proxy']}",
        }
    )
    state.pids["ray-operator"] = _spawn(
        "ray-operator",
        [
            str(bins.ray_operator),
            "--metrics-addr=0",
            "--health-probe-bind-address=0",
            "--enable-leader-election=false",
            "--log-stdout-encoder=console",
            "--reconcile-concurrency=4",
        ],
        run_dir,
        env=op_env,
    )
    state.save()
    op_log = logs / "ray-operator.log"
    # One "Starting workers" line per controller: RayCluster, RayService, RayJob.
    _wait(
        "ray-operator",
        lambda: op_log.read_text().count("Starting workers") >= 3,
        STARTUP_TIMEOUT,
        state.pids["ray-operator"],
        op_log,
    )

    # The network rule, checked rather than assumed: in the host namespace, nothing this harness
    # started listens anywhere but loopback.
    bad = non_loopback_listeners(list(state.pids.values()))
    if bad:
        raise HarnessError("harness processes listen outside loopback:\n" + "\n".join(bad))


def down(run_dir: Path = DEFAULT_RUN_DIR, log: Any = print, skip_pid: int | None = None) -> None:
    state = State.load(run_dir)
    if state is None:
        log(f"[harness] nothing to stop in {run_dir}")
        return
    for name, pid in reversed(list(state.pids.items())):
        if pid != skip_pid and alive(pid):
            t0 = time.monotonic()
            # Ray drains for up to 30s on SIGTERM; a test head has nothing worth waiting for.
            if name == "ray-head":
                stop_head(pid, timeout=3)
            else:
                terminate_tree(pid, timeout=10)
            log(f"[harness] stopped {name} (pid {pid}) in {time.monotonic() - t0:.1f}s")
    early = Path(state.run_dir) / RAY_PID_FILE
    if early.is_file():  # a Ray head whose start was cut short
        ray = json.loads(early.read_text())
        if ray["pid"] != skip_pid and alive(ray["pid"]):
            stop_head(ray["pid"], timeout=3)
            log(f"[harness] stopped ray-head (pid {ray['pid']})")
        state.ray_temp_dir = state.ray_temp_dir or ray["temp_dir"]
        early.unlink()
    if state.netns and netns.exists(state.netns):
        netns.remove(netns.PodNetwork(state.netns, state.netns_index or 0))
        log(f"[harness] removed network namespace {state.netns}")
    if state.ray_temp_dir:
        shutil.rmtree(state.ray_temp_dir, ignore_errors=True)
    shutil.rmtree(Path(state.run_dir) / "etcd", ignore_errors=True)
    state.pids = {}
    state.save()


def status(run_dir: Path = DEFAULT_RUN_DIR) -> dict[str, Any]:
    state = State.load(run_dir)
    if state is None:
        return {"running": False}
    procs = {n: {"pid": p, "alive": alive(p)} for n, p in state.pids.items()}
    running = bool(procs) and all(v["alive"] for v in procs.values())
    return {
        "running": running,
        "kubeconfig": state.kubeconfig,
        "server": state.server,
        "processes": procs,
        "ports": state.ports,
        "netns": state.netns,
        "started_s": state.started_s,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.controlplane")
    ap.add_argument("command", choices=["up", "down", "status"])
    ap.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR)
    args = ap.parse_args(argv)
    if args.command == "up":
        try:
            st = up(args.run_dir)
        except HarnessError as e:
            print(f"[harness] FAILED: {e}", file=sys.stderr)
            return 1
        print(f"export KUBECONFIG={st.kubeconfig}")
    elif args.command == "down":
        down(args.run_dir)
    else:
        s = status(args.run_dir)
        print(json.dumps(s, indent=2))
        return 0 if s["running"] else 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
