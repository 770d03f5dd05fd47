"""A small test kubelet (and scheduler) for the harness's one node.

- registers a Node, keeps its Ready condition and its Lease fresh (else the controller manager
  would evict or garbage-collect the pods);
- binds every unscheduled pod to that node when the pod's ``nodeSelector`` matches the node's labels
  (otherwise the pod stays Pending, as a scheduler that finds no node leaves it);
- runs every pod's containers as local processes (``harness/pods.py``): each pod has its own network
  namespace and IP on the node's bridge, its ``/etc/hosts`` maps the Service names it may use
  (``NAME-head-svc.NS.svc.cluster.local``...) to the pods behind them, its volumes and projected
  service-account token are mounted where the spec says; init containers run first (KubeRay's
  ``wait-gcs-ready`` is answered by the kubelet itself, see ``_gcs_ready``); container state follows
  the process (exit code, restarts with back-off under ``restartPolicy``), readiness follows the
  readiness probe; a deleted pod's processes get SIGTERM, then SIGKILL after the grace period;
- Ray pods whose template carries the annotation ``harness.kuberay.io/pods: stand-in`` (or whose
  namespace carries that label) run nothing: they are Running and Ready at once, with an IP where a
  relay answers for the harness's one local Ray head.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from harness import netns, podspec, services
from harness.logserver import KUBELET_PORT
from harness.pods import Container, Runtime, Sandbox, now

log = logging.getLogger("harness.kubelet")

NODE = "kuberay-harness-node"
NODE_LABELS = {"kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
API_PORT = 443  # where pods reach the API server: the node gateway, relayed by the agent
WAIT_GCS = "wait-gcs-ready"


@dataclass
class StandIn:
    uid: str
    name: str
    namespace: str
    ip: str


@dataclass
class Kubelet:
    api: client.ApiClient
    net: netns.PodNetwork
    bin_dir: Path  # the "image": first on PATH of every container (the venv's `ray`)
    log_dir: Path
    pod_dir: Path
    ca_file: Path
    boxes: dict[str, Sandbox] = field(default_factory=dict)
    stand_ins: dict[str, StandIn] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # service FQDN -> pod IP
    _free_ips: list[str] = field(default_factory=list)
    _free_stand_in_ips: list[str] = field(default_factory=list)
    _reported: dict[str, Any] = field(default_factory=dict)
    _stand_in_namespaces: set[str] = field(default_factory=set)
    _last_heartbeat: float = 0.0

    def __post_init__(self) -> None:
        self.core = client.CoreV1Api(self.api)
        self.coord = client.CoordinationV1Api(self.api)
        self._free_ips = list(self.net.pod_ips)
        self._free_stand_in_ips = list(self.net.stand_in_ips)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.pod_dir.mkdir(parents=True, exist_ok=True)
        self.runtime = Runtime(
            node=NODE,
            bin_dir=self.bin_dir,
            log_dir=self.log_dir,
            pod_dir=self.pod_dir,
            image_env={
                # What a kubelet tells every container about the `kubernetes` Service.
                "KUBERNETES_SERVICE_HOST": self.net.gateway,
                "KUBERNETES_SERVICE_PORT": str(API_PORT),
                "KUBERNETES_SERVICE_PORT_HTTPS": str(API_PORT),
                "KUBERNETES_PORT": f"tcp://{self.net.gateway}:{API_PORT}",
                "RAY_USAGE_STATS_ENABLED": "0",
            },
            secret=self._secret_value,
        )

    def _secret_value(self, namespace: str, ref: Any) -> str:
        """A ``secretKeyRef``'s value ("" when an optional Secret or key is missing, like a kubelet)."""
        import base64

        try:
            data = self.core.read_namespaced_secret(ref.name, namespace).data or {}
        except ApiException as err:
            if err.status == 404 and ref.optional:
                return ""
            raise LookupError(f"couldn't get secret {namespace}/{ref.name}: {err.status} {err.reason}") from err
        if ref.key not in data:
            if ref.optional:
                return ""
            raise KeyError(f"Secret {namespace}/{ref.name} has no key {ref.key!r}")
        return base64.b64decode(data[ref.key]).decode()

    # --- what the agent's proxy asks -----------------------------------------------------------

    def real_ip(self, host: str) -> str | None:
        """The IP of a pod that really runs behind `host` (a pod IP or a Service name), else None."""
        ip = host if host in self.real_ips() else services.lookup(self.names, host)
        return ip if ip in self.real_ips() else None

    def real_ips(self) -> set[str]:
        return {b.ip for b in list(self.boxes.values())}

    def pod_ips(self) -> set[str]:
        return self.real_ips() | {s.ip for s in list(self.stand_ins.values())}

    # --- node ----------------------------------------------------------------------------------

    def _node_status(self) -> dict[str, Any]:
        stamp = now()
        resources = {"cpu": "64", "memory": "256Gi", "pods": "250", "nvidia.com/gpu": "8", "ephemeral-storage": "500Gi"}
        return {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "harness kubelet is posting ready status",
                    "lastHeartbeatTime": stamp,
                    "lastTransitionTime": stamp,
                }
            ],
            # No Hostname address: the API server would resolve it through the machine's DNS.
            "addresses": [{"type": "InternalIP", "address": self.net.ns_ip}],
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
                "labels": NODE_LABELS,
            },
            "spec": {"podCIDR": str(self.net.pod_cidr)},
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

    # --- pods ----------------------------------------------------------------------------------

    def sync_once(self) -> None:
        self.heartbeat()
        pods = self.core.list_pod_for_all_namespaces().items
        svcs = self.core.list_service_for_all_namespaces().items
        self._stand_in_namespaces = {
            n.metadata.name
            for n in self.core.list_namespace().items
            if (n.metadata.labels or {}).get(podspec.STAND_IN_ANNOTATION) == "stand-in"
        }
        gateway = {services.fqdn("kubernetes", "default"): self.net.gateway}
        self.names = services.table(svcs, pods, extra=gateway)
        seen = set()
        for pod in pods:
            seen.add(pod.metadata.uid)
            try:
                self._sync_pod(pod)
            except ApiException as e:
                if e.status not in (404, 409):
                    log.warning(
                        "pod %s/%s: %s %s %s", pod.metadata.namespace, pod.metadata.name, e.status, e.reason, e.body
                    )
            except Exception:
                log.exception("pod %s/%s", pod.metadata.namespace, pod.metadata.name)
        for uid in [u for u in [*self.boxes, *self.stand_ins] if u not in seen]:
            self._forget(uid)
        for box in list(self.boxes.values()):
            self.runtime.set_hosts(box, podspec.hosts_file(box.ip, box.name, self.names, box.namespace))

    def _sync_pod(self, pod: Any) -> None:
        meta, spec = pod.metadata, pod.spec
        uid = meta.uid
        if meta.deletion_timestamp is not None:
            if spec.node_name in (None, NODE):
                self._delete(pod)
            return
        if not spec.node_name:
            if any(NODE_LABELS.get(key) != value for key, value in (spec.node_selector or {}).items()):
                return  # no node fits: Pending, as the scheduler would leave it
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
        if uid in self.stand_ins:
            return
        box = self.boxes.get(uid)
        if box is None:
            if pod.status.phase in ("Succeeded", "Failed"):
                return
            if podspec.is_stand_in(pod) or (podspec.is_ray_pod(pod) and meta.namespace in self._stand_in_namespaces):
                self._start_stand_in(pod)
            else:
                self._start(pod)
            return
        box.pod = pod
        if not box.stopping:
            self._progress(box)

    # --- stand-ins -----------------------------------------------------------------------------

    def _start_stand_in(self, pod: Any) -> None:
        meta = pod.metadata
        ip = self._free_stand_in_ips.pop(0)
        run = StandIn(meta.uid, meta.name, meta.namespace, ip)
        try:
            stamp = now()
            status = self._pod_status(pod, ip, "Running", ready=True, initialized=True, stamp=stamp)
            status["containerStatuses"] = [
                self._container_status(pod.metadata.uid, c.name, {"running": {"startedAt": stamp}}, True, 0, None)
                for c in pod.spec.containers
            ]
            status["initContainerStatuses"] = [
                self._container_status(pod.metadata.uid, c.name, _completed(stamp), True, 0, None)
                for c in pod.spec.init_containers or []
            ]
            self.core.patch_namespaced_pod_status(meta.name, meta.namespace, {"status": status})
        except Exception:
            self._free_stand_in_ips.insert(0, ip)  # retried on the next sync
            raise
        self.stand_ins[meta.uid] = run
        log.info("pod %s/%s stand-in ip=%s (the local Ray head)", meta.namespace, meta.name, ip)

    # --- real pods -----------------------------------------------------------------------------

    def _start(self, pod: Any) -> None:
        meta = pod.metadata
        ip = self._free_ips.pop(0)
        try:
            ns_name = netns.add_pod(self.net, ip)
        except Exception:
            self._free_ips.insert(0, ip)
            raise
        try:
            box = self.runtime.make_sandbox(pod, ip, ns_name, {})
            box.volumes = self._volumes(pod, box.dir / "volumes")
        except Exception:
            netns.remove_pod(ns_name)  # retried on the next sync
            self._free_ips.insert(0, ip)
            raise
        self.boxes[meta.uid] = box
        self.runtime.set_hosts(box, podspec.hosts_file(ip, meta.name, self.names, meta.namespace))
        log.info("pod %s/%s sandbox ip=%s netns=%s", meta.namespace, meta.name, ip, ns_name)
        self._progress(box)

    def _volumes(self, pod: Any, root: Path) -> dict[str, Path]:
        """Materialize the volumes this kubelet supports: emptyDir, projected SA token/CA/namespace, configMaps."""
        out: dict[str, Path] = {}
        for v in pod.spec.volumes or []:
            d = root / v.name
            if v.empty_dir is not None:
                d.mkdir(parents=True, exist_ok=True)
            elif v.projected is not None:
                d.mkdir(parents=True, exist_ok=True)
                for src in v.projected.sources or []:
                    self._project(pod, src, d)
            elif v.config_map is not None:
                d.mkdir(parents=True, exist_ok=True)
                self._config_map(pod.metadata.namespace, v.config_map.name, v.config_map.items, d)
            elif v.host_path is not None:
                out[v.name] = Path(v.host_path.path)
                continue
            else:
                continue
            out[v.name] = d
        return out

    def _project(self, pod: Any, src: Any, d: Path) -> None:
        if src.service_account_token is not None:
            t = src.service_account_token
            body: dict[str, Any] = {
                "spec": {
                    "expirationSeconds": t.expiration_seconds or 3607,
                    "boundObjectRef": {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "name": pod.metadata.name,
                        "uid": pod.metadata.uid,
                    },
                }
            }
            if t.audience:
                body["spec"]["audiences"] = [t.audience]
            token = self.core.create_namespaced_service_account_token(
                pod.spec.service_account_name or "default", pod.metadata.namespace, body
            ).status.token
            (d / (t.path or "token")).write_text(token)
        elif src.config_map is not None:
            self._config_map(pod.metadata.namespace, src.config_map.name, src.config_map.items, d)
        elif src.downward_api is not None:
            for item in src.downward_api.items or []:
                if item.field_ref is not None:
                    value = podspec.field_value(pod, item.field_ref.field_path, "", NODE)
                    (d / item.path).write_text(value)

    def _config_map(self, namespace: str, name: str, items: Any, d: Path) -> None:
        if name == "kube-root-ca.crt":  # what the controller manager publishes: the cluster CA
            data = {"ca.crt": self.ca_file.read_text()}
        else:
            data = self.core.read_namespaced_config_map(name, namespace).data or {}
        wanted = [(i.key, i.path) for i in items] if items else [(k, k) for k in data]
        for key, path in wanted:
            if key in data:
                (d / path).parent.mkdir(parents=True, exist_ok=True)
                (d / path).write_text(data[key])

    def _gcs_ready(self, c: Container) -> bool:
        """KubeRay's init container that polls `ray health-check` until the head's GCS answers.

        Answered here with a TCP connect to the address it polls (one `ray health-check` is
        seconds of CPU on this machine; the container would run it every 5 s).
        """
        import re

        text = " ".join([*(c.spec.command or []), *(c.spec.args or [])])
        m = re.search(r"--address\s+([^\s:]+):(\d+)", text)
        if not m:
            return True
        host = m.group(1)
        ip = host if host in self.pod_ips() else services.lookup(self.names, host)
        if ip is None:
            return False
        try:
            socket.create_connection((ip, int(m.group(2))), timeout=1).close()
            return True
        except OSError:
            return False

    def _progress(self, box: Sandbox) -> None:
        rt = self.runtime
        for c in box.all():
            rt.reap(box, c)
        failed_init = False
        for c in box.inits:
            if c.ended is not None:
                if c.ended["exitCode"] == 0:
                    continue
                failed_init = True
                break
            if c.running() or (c.started_at and c.proc is None and time.monotonic() < c.next_start):
                break
            if c.name == WAIT_GCS:
                if self._gcs_ready(c):
                    stamp = now()
                    c.started_at = stamp
                    c.ended = _completed(stamp)["terminated"]
                    continue
                c.waiting = "PodInitializing"
                break
            rt.start(box, c)
            break
        else:
            for c in box.containers:
                if c.started_at is None:
                    rt.start(box, c)
            for c in rt.due_restarts(box):
                rt.start(box, c)
            rt.probe_due(box)
        self._report(box, failed_init)

    def _report(self, box: Sandbox, failed_init: bool) -> None:
        pod = box.pod
        initialized = all(c.ended is not None and c.ended["exitCode"] == 0 for c in box.inits)
        ended = [c.ended for c in box.containers]
        if failed_init:
            phase = "Failed"
        elif not initialized:
            phase = "Pending"
        elif all(e is not None for e in ended):
            phase = "Succeeded" if all(e["exitCode"] == 0 for e in ended) else "Failed"  # type: ignore[index]
        else:  # Pending until a container has started (one whose config is wrong never does)
            phase = "Running" if any(c.started_at for c in box.containers) else "Pending"
        ready = phase == "Running" and all(c.ready and c.running() for c in box.containers)
        key = (
            phase,
            ready,
            initialized,
            tuple((c.name, repr(c.state()), c.ready, c.restarts) for c in box.all()),
        )
        if self._reported.get(box.uid) == key:
            return
        stamp = now()
        status = self._pod_status(pod, box.ip, phase, ready=ready, initialized=initialized, stamp=stamp)
        status["containerStatuses"] = [
            self._container_status(box.uid, c.name, c.state(), c.ready and c.running(), c.restarts, c.last_state)
            for c in box.containers
        ]
        if box.inits:
            status["initContainerStatuses"] = [
                self._container_status(box.uid, c.name, c.state(), c.ended is not None, c.restarts, c.last_state)
                for c in box.inits
            ]
        self.core.patch_namespaced_pod_status(box.name, box.namespace, {"status": status})
        self._reported[box.uid] = key
        if phase in ("Succeeded", "Failed") and not box.stopping:
            # A finished pod keeps its status, not its sandbox.
            box.stopping = True
            threading.Thread(target=self._teardown, args=(box,), daemon=True).start()

    def _pod_status(self, pod: Any, ip: str, phase: str, *, ready: bool, initialized: bool, stamp: str) -> dict:
        done = phase in ("Succeeded", "Failed")

        def cond(kind: str, ok: bool) -> dict[str, Any]:
            c = {"type": kind, "status": "True" if ok else "False", "lastTransitionTime": stamp}
            if done and not ok:
                c["reason"] = "PodCompleted"
            return c

        started = pod.status.start_time
        return {
            "phase": phase,
            "hostIP": self.net.ns_ip,
            "hostIPs": [{"ip": self.net.ns_ip}],
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": started.strftime("%Y-%m-%dT%H:%M:%SZ") if started else stamp,
            "conditions": [
                cond("PodReadyToStartContainers", not done),
                cond("Initialized", initialized),
                cond("ContainersReady", ready),
                cond("Ready", ready),
                cond("PodScheduled", True),
            ],
        }

    @staticmethod
    def _container_status(
        uid: str, name: str, state: dict[str, Any], ready: bool, restarts: int, last: dict[str, Any] | None
    ) -> dict[str, Any]:
        s = {
            "name": name,
            "image": "harness",
            "imageID": "harness://local-process",
            "containerID": f"harness://{uid}/{name}",
            "ready": ready,
            "started": "running" in state,
            "restartCount": restarts,
            "state": state,
        }
        if last:
            s["lastState"] = last
        return s

    # --- deletion ------------------------------------------------------------------------------

    def _delete(self, pod: Any) -> None:
        uid = pod.metadata.uid
        box = self.boxes.get(uid)
        if box is not None and not box.stopped.is_set():
            if not box.deleting:
                box.stopping = box.deleting = True
                grace = podspec.grace_seconds(pod)
                threading.Thread(target=self._stop_then_confirm, args=(box, pod, grace), daemon=True).start()
            return
        self._confirm_deleted(pod)

    def _stop_then_confirm(self, box: Sandbox, pod: Any, grace: float) -> None:
        self._teardown(box, grace)
        try:
            self._confirm_deleted(pod)
        except ApiException as e:
            if e.status not in (404, 409):
                log.warning("pod %s/%s: confirming deletion: %s", box.namespace, box.name, e.status)

    def _teardown(self, box: Sandbox, grace: float = 0.0) -> None:
        with box.lock:
            if not box.stopped.is_set():
                self.runtime.stop(box, grace)
                netns.remove_pod(box.netns)
                box.stopped.set()
                log.info("pod %s/%s stopped", box.namespace, box.name)

    def _confirm_deleted(self, pod: Any) -> None:
        meta = pod.metadata
        self.core.delete_namespaced_pod(
            meta.name,
            meta.namespace,
            grace_period_seconds=0,
            body=client.V1DeleteOptions(grace_period_seconds=0, preconditions=client.V1Preconditions(uid=meta.uid)),
        )

    def _forget(self, uid: str) -> None:
        self._reported.pop(uid, None)
        stand_in = self.stand_ins.pop(uid, None)
        if stand_in is not None:
            self._free_stand_in_ips.append(stand_in.ip)
            return
        box = self.boxes.get(uid)
        if box is None:
            return
        if not box.stopped.is_set():
            if box.stopping:
                return  # its teardown is still under way; forgotten on a later sync
            self._teardown(box, podspec.grace_seconds(box.pod))
        del self.boxes[uid]
        self.runtime.discard(box)
        self._free_ips.append(box.ip)

    def stop_all(self) -> None:
        threads = []
        for box in list(self.boxes.values()):
            t = threading.Thread(target=self._teardown, args=(box, 3.0), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join(timeout=30)

    def run_forever(self, stop: Any, interval: float = 0.5) -> None:
        self.register()
        while not stop.is_set():
            try:
                self.sync_once()
            except Exception:
                log.exception("kubelet sync failed")
            stop.wait(interval)
        self.stop_all()


def _completed(stamp: str) -> dict[str, Any]:
    return {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": stamp, "finishedAt": stamp}}
