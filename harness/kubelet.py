"""A small test kubelet (and scheduler) for the harness's one node.

- registers a Node, keeps its Ready condition and its Lease fresh (else the controller manager
  would evict or garbage-collect the pods);
- binds every unscheduled pod to that node;
- Ray head/worker pods (and any other long-running pod) become Running and Ready with an IP from
  the pod network; the Ray head they stand for is the harness's one local Ray head;
- pods owned by a batch Job (KubeRay's K8sJobMode submitter) really run their command as a local
  process, and their exit code becomes the container's terminated state, so the Job controller
  completes or fails the Job for real;
- pods being deleted are stopped and removed (grace period 0), as a kubelet confirms deletion.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import logging
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from harness.logserver import KUBELET_PORT, exit_marker, log_path

log = logging.getLogger("harness.kubelet")

NODE = "kuberay-harness-node"
# `http://NAME-head-svc.NS.svc.cluster.local:8265` and friends, as KubeRay writes them.
CLUSTER_URL = re.compile(r"http://[a-z0-9]([-a-z0-9.]*[a-z0-9])?:(\d+)")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Running:
    uid: str
    name: str
    namespace: str
    ip: str
    proc: subprocess.Popen | None = None
    log_file: Path | None = None
    done: bool = False


@dataclass
class Kubelet:
    api: client.ApiClient
    pod_cidr: ipaddress.IPv4Network
    node_ip: str
    dashboard_port: int
    serve_port: int | None
    bin_dir: Path  # put first on PATH of submitter processes (the venv's `ray`)
    log_dir: Path
    pods: dict[str, Running] = field(default_factory=dict)
    _free_ips: list[str] = field(default_factory=list)
    _last_heartbeat: float = 0.0

    def __post_init__(self) -> None:
        self.core = client.CoreV1Api(self.api)
        self.coord = client.CoordinationV1Api(self.api)
        hosts = list(self.pod_cidr.hosts())
        self._free_ips = [str(h) for h in hosts[9:]]  # leave the low addresses alone
        self.log_dir.mkdir(parents=True, exist_ok=True)

    # --- node ---------------------------------------------------------------------------------

    def _node_status(self) -> dict[str, Any]:
        now = _now()
        return {
            "capacity": {
                "cpu": "64",
                "memory": "256Gi",
                "pods": "250",
                "nvidia.com/gpu": "8",
                "ephemeral-storage": "500Gi",
            },
            "allocatable": {
                "cpu": "64",
                "memory": "256Gi",
                "pods": "250",
                "nvidia.com/gpu": "8",
                "ephemeral-storage": "500Gi",
            },
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "harness kubelet is posting ready status",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
            ],
            # No Hostname address: the API server would resolve it through the machine's DNS.
            "addresses": [{"type": "InternalIP", "address": self.node_ip}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "harness",
                "kubeProxyVersion": "",
                "containerRuntimeVersion": "harness://local-process",
                "kernelVersion": "",
                "osImage": "harness",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
        }

    def register(self) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE,
                "labels": {"kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
            },
            "spec": {"podCIDR": str(self.pod_cidr)},
        }
        try:
            self.core.create_node(body)
        except ApiException as e:
            if e.status != 409:
                raise
        self.heartbeat(force=True)

    def heartbeat(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._last_heartbeat < 10:
            return
        self._last_heartbeat = time.monotonic()
        self.core.patch_node_status(NODE, {"status": self._node_status()})
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": NODE, "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": NODE,
                "leaseDurationSeconds": 40,
                "renewTime": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            },
        }
        try:
            self.coord.patch_namespaced_lease(NODE, "kube-node-lease", {"spec": lease["spec"]})
        except ApiException as e:
            if e.status != 404:
                raise
            self.coord.create_namespaced_lease("kube-node-lease", lease)

    # --- pods ---------------------------------------------------------------------------------

    def sync_once(self) -> None:
        self.heartbeat()
        pods = self.core.list_pod_for_all_namespaces().items
        seen = set()
        for pod in pods:
            uid = pod.metadata.uid
            seen.add(uid)
            try:
                self._sync_pod(pod)
            except ApiException as e:
                if e.status not in (404, 409):
                    log.warning(
                        "pod %s/%s: %s %s %s", pod.metadata.namespace, pod.metadata.name, e.status, e.reason, e.body
                    )
        for uid in [u for u in self.pods if u not in seen]:
            self._forget(uid)

    def _sync_pod(self, pod: Any) -> None:
        meta, spec = pod.metadata, pod.spec
        uid = meta.uid
        if meta.deletion_timestamp is not None:
            if spec.node_name in (None, NODE):
                self._stop(uid)
                self.core.delete_namespaced_pod(
                    meta.name,
                    meta.namespace,
                    grace_period_seconds=0,
                    body=client.V1DeleteOptions(grace_period_seconds=0, preconditions=client.V1Preconditions(uid=uid)),
                )
                self._forget(uid)
            return
        if not spec.node_name:
            self.core.create_namespaced_pod_binding(
                meta.name,
                meta.namespace,
                client.V1Binding(
                    metadata=client.V1ObjectMeta(name=meta.name, uid=uid),
                    target=client.V1ObjectReference(kind="Node", name=NODE, api_version="v1"),
                ),
                _preload_content=False,
            )
            return
        if spec.node_name != NODE:
            return
        run = self.pods.get(uid)
        if run is None:
            if pod.status.phase in ("Succeeded", "Failed"):
                return
            self._start(pod)
        elif run.proc is not None and not run.done:
            code = run.proc.poll()
            if code is not None:
                self._report_exit(pod, run, code)
                run.done = True

    def _alloc_ip(self) -> str:
        return self._free_ips.pop(0)

    def _start(self, pod: Any) -> None:
        meta = pod.metadata
        ip = self._alloc_ip()
        run = Running(meta.uid, meta.name, meta.namespace, ip)
        runs_command = any(o.kind == "Job" for o in (meta.owner_references or []))
        try:
            self._report_running(pod, run, ready=True)
        except Exception:
            self._free_ips.insert(0, ip)  # retried on the next sync
            raise
        self.pods[meta.uid] = run
        if runs_command:
            self._spawn(pod, run)
        log.info(
            "pod %s/%s started ip=%s %s",
            meta.namespace,
            meta.name,
            ip,
            "process" if runs_command else "(Ray head stand-in)",
        )

    def _rewrite(self, text: str) -> str:
        """Point cluster-internal Ray URLs at the local Ray head.

        The submitter's `ray job logs --follow` uses a websocket client that ignores proxy
        variables and would resolve the cluster name through the machine's DNS server, so its
        address is rewritten to the local Ray head rather than sent through the forward proxy.
        """

        def sub(m: re.Match[str]) -> str:
            host, port = m.group(0)[len("http://") :].rsplit(":", 1)
            first = host.split(".", 1)[0]
            if not first.endswith(("-head-svc", "-serve-svc")):
                return m.group(0)
            if port == "8265":
                return f"http://127.0.0.1:{self.dashboard_port}"
            if port == "8000" and self.serve_port:
                return f"http://127.0.0.1:{self.serve_port}"
            return m.group(0)

        return CLUSTER_URL.sub(sub, text)

    def _env(self, pod: Any, container: Any, ip: str) -> dict[str, str]:
        env = {
            "PATH": f"{self.bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            "HOSTNAME": pod.metadata.name,
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
        }
        # The test session's process tag, so a pod's process left alive is found as the session's own.
        if "KUBERAY_TEST_PROCESS_TAG" in os.environ:
            env["KUBERAY_TEST_PROCESS_TAG"] = os.environ["KUBERAY_TEST_PROCESS_TAG"]
        field_values = {
            "metadata.name": pod.metadata.name,
            "metadata.namespace": pod.metadata.namespace,
            "status.podIP": ip,
            "spec.nodeName": NODE,
        }
        for e in container.env or []:
            if e.value is not None:
                env[e.name] = e.value
            elif e.value_from is not None and e.value_from.field_ref is not None:
                env[e.name] = field_values.get(e.value_from.field_ref.field_path, "")
            elif e.value_from is not None and e.value_from.secret_key_ref is not None:
                # As a real kubelet does: e.g. KubeRay's RAY_AUTH_TOKEN from a token-auth cluster's Secret.
                env[e.name] = self._secret_value(pod.metadata.namespace, e.value_from.secret_key_ref)
        if "RAY_DASHBOARD_ADDRESS" in env:
            url = self._rewrite("http://" + env["RAY_DASHBOARD_ADDRESS"])
            env["RAY_DASHBOARD_ADDRESS"] = url.removeprefix("http://")
        # The submitter must never see the operator's proxy settings.
        for k in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
            env.pop(k, None)
        return env

    def _secret_value(self, namespace: str, ref: Any) -> str:
        """The value of a ``secretKeyRef`` ("" when an optional Secret or key is missing, like a kubelet)."""
        import base64

        try:
            data = self.core.read_namespaced_secret(ref.name, namespace).data or {}
        except client.ApiException as err:
            if err.status == 404 and ref.optional:
                return ""
            raise
        if ref.key not in data:
            if ref.optional:
                return ""
            raise KeyError(f"Secret {namespace}/{ref.name} has no key {ref.key!r}")
        return base64.b64decode(data[ref.key]).decode()

    def _spawn(self, pod: Any, run: Running) -> None:
        c = pod.spec.containers[0]
        argv = [*(c.command or []), *(c.args or [])]
        if not argv:
            argv = ["/bin/true"]
        # A login shell would reset PATH from /etc/profile and lose the venv's `ray`.
        if Path(argv[0]).name in ("bash", "sh") and len(argv) > 1 and argv[1].startswith("-"):
            argv[1] = argv[1].replace("l", "")
        argv = [self._rewrite(a) for a in argv]
        run.log_file = log_path(self.log_dir, pod.metadata.namespace, pod.metadata.name)
        with open(run.log_file, "wb") as out:
            try:
                run.proc = subprocess.Popen(
                    argv,
                    env=self._env(pod, c, run.ip),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self.log_dir,
                    start_new_session=True,
                )
            except OSError as e:
                # As a container runtime would: the container exits 127 and says why.
                out.write(f"harness kubelet: cannot start {argv[0]}: {e}\n".encode())
                run.proc = subprocess.Popen(["/bin/sh", "-c", "exit 127"], start_new_session=True)

    def _container_statuses(self, pod: Any, state: dict[str, Any], ready: bool) -> list[dict[str, Any]]:
        return [
            {
                "name": c.name,
                "image": c.image or "harness",
                "imageID": "harness://" + (c.image or ""),
                "containerID": f"harness://{pod.metadata.uid}/{c.name}",
                "ready": ready,
                "started": "running" in state,
                "restartCount": 0,
                "state": state,
            }
            for c in pod.spec.containers
        ]

    def _report_running(self, pod: Any, run: Running, ready: bool) -> None:
        now = _now()
        flag = "True" if ready else "False"
        status = {
            "phase": "Running",
            "hostIP": self.node_ip,
            "hostIPs": [{"ip": self.node_ip}],
            "podIP": run.ip,
            "podIPs": [{"ip": run.ip}],
            "startTime": now,
            "conditions": [
                {"type": t, "status": s, "lastTransitionTime": now}
                for t, s in (
                    ("PodReadyToStartContainers", "True"),
                    ("Initialized", "True"),
                    ("ContainersReady", flag),
                    ("Ready", flag),
                    ("PodScheduled", "True"),
                )
            ],
            "containerStatuses": self._container_statuses(pod, {"running": {"startedAt": now}}, ready),
        }
        if pod.spec.init_containers:
            status["initContainerStatuses"] = [
                {
                    "name": c.name,
                    "image": c.image or "harness",
                    "imageID": "harness://",
                    "ready": True,
                    "restartCount": 0,
                    "containerID": f"harness://{pod.metadata.uid}/{c.name}",
                    "state": {
                        "terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}
                    },
                }
                for c in pod.spec.init_containers
            ]
        self.core.patch_namespaced_pod_status(run.name, run.namespace, {"status": status})

    def _report_exit(self, pod: Any, run: Running, code: int) -> None:
        now = _now()
        started = (pod.status.start_time or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
        state = {
            "terminated": {
                "exitCode": code,
                "reason": "Completed" if code == 0 else "Error",
                "startedAt": started,
                "finishedAt": now,
                "containerID": f"harness://{pod.metadata.uid}/{pod.spec.containers[0].name}",
            },
        }
        status = {
            "phase": "Succeeded" if code == 0 else "Failed",
            "conditions": [
                {
                    "type": t,
                    "status": s,
                    "lastTransitionTime": now,
                    **({"reason": "PodCompleted"} if s == "False" else {}),
                }
                for t, s in (
                    ("PodReadyToStartContainers", "False"),
                    ("Initialized", "True"),
                    ("ContainersReady", "False"),
                    ("Ready", "False"),
                    ("PodScheduled", "True"),
                )
            ],
            "containerStatuses": self._container_statuses(pod, state, False),
        }
        self.core.patch_namespaced_pod_status(run.name, run.namespace, {"status": status})
        if run.log_file is not None:
            exit_marker(run.log_file).write_text(f"{code}\n")
        log.info("pod %s/%s exited with %s (log %s)", run.namespace, run.name, code, run.log_file)

    def _stop(self, uid: str) -> None:
        run = self.pods.get(uid)
        if run is None or run.proc is None or run.proc.poll() is not None:
            return
        try:
            os.killpg(run.proc.pid, signal.SIGTERM)  # the session we started for it
            run.proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.proc.pid, signal.SIGKILL)
            run.proc.wait()

    def _forget(self, uid: str) -> None:
        self._stop(uid)
        run = self.pods.pop(uid, None)
        if run is not None:
            self._free_ips.append(run.ip)

    def stop_all(self) -> None:
        for uid in list(self.pods):
            self._stop(uid)

    def pod_ips(self) -> set[str]:
        return {r.ip for r in self.pods.values()}

    def run_forever(self, stop: Any, interval: float = 0.5) -> None:
        self.register()
        while not stop.is_set():
            try:
                self.sync_once()
            except Exception:
                log.exception("kubelet sync failed")
            stop.wait(interval)
        self.stop_all()
