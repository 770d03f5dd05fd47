"""Service names -> pod IPs, the harness's stand-in for cluster DNS and kube-proxy (pure, no I/O).

A Service name resolves straight to the IP of a pod its selector picks (the oldest ready one, or
any running one if the Service publishes not-ready addresses), the way a headless Service does.
So a port on a Service is the same port on the pod: true of every Service KubeRay makes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

CLUSTER_DOMAIN = "svc.cluster.local"


def fqdn(name: str, namespace: str) -> str:
    return f"{name}.{namespace}.{CLUSTER_DOMAIN}"


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def table(services: Iterable[Any], pods: Iterable[Any], extra: dict[str, str] | None = None) -> dict[str, str]:
    """{NAME.NS.svc.cluster.local: pod IP} for every Service with a selector that picks a pod with an IP."""
    by_ns: dict[str, list[Any]] = {}
    for pod in pods:
        if pod.metadata.deletion_timestamp is None and pod.status is not None and pod.status.pod_ip:
            by_ns.setdefault(pod.metadata.namespace, []).append(pod)
    names = dict(extra or {})
    for svc in services:
        selector = svc.spec.selector or {}
        if not selector:
            continue
        picked = [
            p
            for p in by_ns.get(svc.metadata.namespace, [])
            if all((p.metadata.labels or {}).get(k) == v for k, v in selector.items())
            and (svc.spec.publish_not_ready_addresses or _ready(p))
        ]
        if picked:
            picked.sort(key=lambda p: (not _ready(p), p.metadata.creation_timestamp, p.metadata.name))
            names[fqdn(svc.metadata.name, svc.metadata.namespace)] = picked[0].status.pod_ip
    return names


def lookup(names: dict[str, str], host: str) -> str | None:
    """The IP of a service host name in any of its forms (NAME.NS, NAME.NS.svc, full), else None."""
    host = host.rstrip(".")
    if host in names:
        return names[host]
    parts = host.split(".")
    if len(parts) in (2, 3):
        return names.get(fqdn(parts[0], parts[1]))
    return None
