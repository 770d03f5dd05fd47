"""The real Kueue controller on a running harness, started on demand (only the tests that queue work
pay for it) and stopped by PID like every other harness process.

    python -m harness.kueue start [--run-dir DIR]   # on a harness started by `make k8s-up`
    python -m harness.kueue stop  [--run-dir DIR]

Kueue manages only what carries the label ``kueue.x-k8s.io/queue-name`` (``manageJobsWithoutQueueName``
is off), here RayJobs and RayClusters (its ``ray.io/rayjob`` and ``ray.io/raycluster`` integrations).
Its CRDs and ClusterRole come from the release's module in Go's module cache.

No webhook configuration is registered. Kueue's mutating webhook only suspends a labelled job that was
created running and its validating webhook only rejects what Kueue cannot manage; its reconcilers do
the queueing (a Workload per job, admission by resuming the job, quota released when the job
finishes) with or without them. The provider creates queued objects suspended and refuses what
Kueue would reject (a RayJob on an existing cluster, or one that keeps its cluster), so it needs
neither, and the rest of the tier is not routed through a webhook. Kueue's webhook server still has
to start: it gets a self-signed certificate for 127.0.0.1 and a loopback port.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from devtools.local_ray import clean_env
from devtools.processes import alive, free_ports, non_loopback_listeners, terminate_tree
from harness import build, pki
from harness.controlplane import (
    DEFAULT_RUN_DIR,
    RBAC_DIR,
    STARTUP_TIMEOUT,
    HarnessError,
    State,
    _apply_docs,
    _http_ok,
    _load_yaml,
    _spawn,
    _wait,
    install_crds,
)

NAME = "kueue"
NAMESPACE = "kueue-system"
CLUSTER_ROLE = "kueue-manager-role"

# Kueue reads its metrics certificate from this fixed path when it does not manage its own
# certificates (cmd/kueue/main.go). It gets one in a mount namespace of its own: /etc overlaid
# (on a tmpfs) with just that directory added, so nothing is written to the host's /etc.
METRICS_CERT_DIR = "kueue/metrics/certs"
_MOUNT_AND_EXEC = """set -e
mount -t tmpfs kueue-etc "$KUEUE_ETC"
mkdir -p "$KUEUE_ETC/upper/kueue/metrics" "$KUEUE_ETC/work"
cp -r "$KUEUE_CERTS" "$KUEUE_ETC/upper/kueue/metrics/certs"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$KUEUE_ETC/upper,workdir=$KUEUE_ETC/work" /etc
exec "$@"
"""


def _config(health_port: int, webhook_port: int, cert_dir: Path) -> str:
    import json

    return json.dumps(
        {
            "apiVersion": "config.kueue.x-k8s.io/v1beta2",
            "kind": "Configuration",
            "namespace": NAMESPACE,
            "health": {"healthProbeBindAddress": f"127.0.0.1:{health_port}"},
            "metrics": {"bindAddress": "0"},
            "webhook": {"host": "127.0.0.1", "port": webhook_port, "certDir": str(cert_dir)},
            "leaderElection": {"leaderElect": False},
            "internalCertManagement": {"enable": False},
            "manageJobsWithoutQueueName": False,
            "integrations": {"frameworks": ["ray.io/rayjob", "ray.io/raycluster"]},
            # On by default, it would serve on every interface at a fixed port.
            "featureGates": {"VisibilityOnDemand": False},
        },
        indent=2,
    )


def wait_for_build(log: Any = print) -> None:
    """Wait for a Kueue build under way (``harness.build --kueue-in-background``, as ``make test``
    starts it); build it now if none ran or that one failed (whose error is then raised here)."""
    if build.kueue_wanted() and build.go_available() and not build.kueue_binary().is_file():
        t0 = time.monotonic()
        build.build_kueue()
        log(f"Kueue: waited {time.monotonic() - t0:.0f}s for its build")


def available() -> str | None:
    """Why Kueue cannot run on the harness, or None."""
    if not build.kueue_wanted():
        return "KUBERAY_HARNESS_KUEUE=0"
    if not build.kueue_binary().is_file():
        return f"the Kueue controller is not built ({build.kueue_binary()}): run `python -m harness.build --only kueue`"
    if shutil.which("unshare") is None:
        return "`unshare` (util-linux) is missing"
    return None


def start(run_dir: Path = DEFAULT_RUN_DIR, log: Any = print) -> int:
    """Install Kueue's CRDs and RBAC, start its controller, and return its PID once it is ready."""
    why = available()
    if why:
        raise HarnessError(f"Kueue cannot run: {why}")
    state = State.load(run_dir)
    if state is None or not state.pids:
        raise HarnessError(f"no harness is running from {run_dir}")
    if alive(state.pids.get(NAME, 0) or -1):
        return state.pids[NAME]
    t0 = time.monotonic()
    module = build.kueue_module_dir()
    if module is None:
        raise HarnessError(f"cannot find {build.KUEUE_MODULE}@{build.KUEUE_VERSION} in Go's module cache")

    from kubernetes import client
    from kubernetes import config as kconfig
    from kubernetes.client.rest import ApiException

    api = kconfig.new_client_from_config(config_file=state.kubeconfig)
    install_crds(api, module / "config" / "components" / "crd" / "bases")
    try:
        client.CoreV1Api(api).create_namespace({"metadata": {"name": NAMESPACE}})
    except ApiException as e:
        if e.status != 409:
            raise
    rbac = module / "config" / "components" / "rbac"
    role = _load_yaml(rbac / "role.yaml")
    for doc in role:
        doc["metadata"]["name"] = CLUSTER_ROLE
    secrets_role = _load_yaml(rbac / "manager_secrets_role.yaml")
    for doc in secrets_role:
        doc["metadata"]["namespace"] = NAMESPACE  # kustomize's "system"
    _apply_docs(api, role + secrets_role + _load_yaml(RBAC_DIR / "kueue-binding.yaml"))

    home = run_dir / NAME
    (home / "etc").mkdir(parents=True, exist_ok=True)
    webhook_certs = home / "webhook-certs"
    pki.loopback_serving_pair(webhook_certs)
    health_port, webhook_port = free_ports(2)
    (home / "config.yaml").write_text(_config(health_port, webhook_port, webhook_certs))
    env = {
        **clean_env(),
        "KUBECONFIG": str(run_dir / "kueue.kubeconfig"),
        "KUEUE_ETC": str(home / "etc"),
        "KUEUE_CERTS": str(webhook_certs),  # any certificate will do: the metrics server is off
    }
    argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", _MOUNT_AND_EXEC, "kueue"]
    argv += [str(build.kueue_binary()), f"--config={home / 'config.yaml'}", "--zap-log-level=info"]
    pid = _spawn(NAME, argv, run_dir, env=env)
    state.pids[NAME] = pid
    state.save()
    kueue_log = run_dir / "logs" / f"{NAME}.log"
    try:
        _wait("kueue", lambda: _http_ok(f"http://127.0.0.1:{health_port}/readyz"), STARTUP_TIMEOUT, pid, kueue_log)
        # Ready once the RayJob reconciler runs, not only once the probes answer.
        _wait("kueue's RayJob controller", lambda: _rayjob_workers(kueue_log), STARTUP_TIMEOUT, pid, kueue_log)
        bad = non_loopback_listeners([pid])
        if bad:
            raise HarnessError("kueue listens outside loopback:\n" + "\n".join(bad))
    except BaseException:
        stop(run_dir, log=log)
        raise
    log(f"[harness] kueue {build.KUEUE_VERSION} up in {time.monotonic() - t0:.1f}s (pid {pid})")
    return pid


def _rayjob_workers(kueue_log: Path) -> bool:
    return any("Starting workers" in line and '"rayjob"' in line for line in kueue_log.read_text().splitlines())


def stop(run_dir: Path = DEFAULT_RUN_DIR, log: Any = print) -> None:
    """Stop the Kueue controller (by its recorded PID); its CRDs and objects stay."""
    state = State.load(run_dir)
    pid = state.pids.pop(NAME, None) if state else None
    if state is None or pid is None:
        return
    if alive(pid):
        terminate_tree(pid, timeout=10)
        log(f"[harness] stopped kueue (pid {pid})")
    state.save()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.kueue")
    ap.add_argument("command", choices=["start", "stop"])
    ap.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR)
    args = ap.parse_args(argv)
    if args.command == "stop":
        stop(args.run_dir)
        return 0
    try:
        start(args.run_dir)
    except HarnessError as e:
        print(f"[harness] FAILED: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
