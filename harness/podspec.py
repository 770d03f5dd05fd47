"""What a pod's spec asks of the test kubelet, read as a kubelet reads it (pure functions, no I/O).

Environment (values, ``fieldRef``, ``resourceFieldRef``, ``$(VAR)`` references), the command line,
the service-account environment, restart policy, grace period and the pod's ``/etc/hosts``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

# `$(VAR)` references in env values, command and args; `$$(VAR)` escapes them.
_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_FIELD = re.compile(r"metadata\.(labels|annotations)\['([^']+)'\]")
# "stand-in" as a pod annotation (or namespace label): those Ray pods run nothing (harness/kubelet.py).
STAND_IN_ANNOTATION = "harness.kuberay.io/pods"


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: a known variable is replaced, an unknown reference is kept."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env.get(name, m.group(0))

    return _REF.sub(sub, text)


def field_value(pod: Any, path: str, ip: str, node: str) -> str:
    meta = pod.metadata
    simple = {
        "metadata.name": meta.name,
        "metadata.namespace": meta.namespace,
        "metadata.uid": meta.uid,
        "spec.nodeName": node,
        "spec.serviceAccountName": pod.spec.service_account_name or "default",
        "status.podIP": ip,
        "status.podIPs": ip,
        "status.hostIP": ip,
    }
    if path in simple:
        return simple[path] or ""
    m = _FIELD.fullmatch(path)
    if m:
        values = (meta.labels if m.group(1) == "labels" else meta.annotations) or {}
        return values.get(m.group(2), "")
    return ""


def quantity(text: str) -> float:
    """A Kubernetes quantity ("500m", "2Gi", "1e3", "4") as a number."""
    units = {
        "m": 1e-3,
        "k": 1e3,
        "M": 1e6,
        "G": 1e9,
        "T": 1e12,
        "Ki": 2**10,
        "Mi": 2**20,
        "Gi": 2**30,
        "Ti": 2**40,
    }
    m = re.fullmatch(r"([0-9.eE+-]+?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?", str(text))
    if not m:
        raise ValueError(f"not a quantity: {text!r}")
    return float(m.group(1)) * units.get(m.group(2) or "", 1)


def resource_value(container: Any, ref: Any) -> str:
    """A `resourceFieldRef` (limits.cpu, requests.memory...) as the kubelet gives it: rounded up, in divisor units."""
    kind, _, name = ref.resource.partition(".")
    res = container.resources
    values = (getattr(res, kind, None) or {}) if res is not None else {}
    raw = values.get(name)
    if raw is None:
        return "0"
    divisor = quantity(ref.divisor) if ref.divisor else 1.0
    return str(math.ceil(quantity(raw) / divisor))


def container_env(
    pod: Any,
    container: Any,
    ip: str,
    node: str,
    base: dict[str, str],
    extra: dict[str, str] | None = None,
    secret: Callable[[str, Any], str] | None = None,
) -> dict[str, str]:
    """
    The container's environment: `base` (the image's), then the spec's env in order, then `extra`.
    `secret(namespace, secretKeyRef)` reads a Secret's value (e.g. KubeRay's Ray token).
    """
    env = dict(base)
    for e in container.env or []:
        if e.value is not None:
            env[e.name] = expand(e.value, env)
        elif e.value_from is not None:
            src = e.value_from
            if src.field_ref is not None:
                env[e.name] = field_value(pod, src.field_ref.field_path, ip, node)
            elif src.resource_field_ref is not None:
                env[e.name] = resource_value(container, src.resource_field_ref)
            elif src.secret_key_ref is not None and secret is not None:
                env[e.name] = secret(pod.metadata.namespace, src.secret_key_ref)
        else:
            env[e.name] = ""
    env.update(extra or {})
    return env


def command(container: Any, env: dict[str, str]) -> list[str]:
    """Command and args with `$(VAR)` expanded; an image's entrypoint does not exist here."""
    argv = [expand(a, env) for a in [*(container.command or []), *(container.args or [])]]
    if not argv:
        return ["/bin/true"]
    # A login shell would reset PATH from /etc/profile and lose the venv's `ray` (the "image").
    if Path(argv[0]).name in ("bash", "sh") and len(argv) > 1 and argv[1].startswith("-") and "l" in argv[1]:
        argv[1] = argv[1].replace("l", "") or "-c"
    return argv


def restart_policy(pod: Any) -> str:
    return pod.spec.restart_policy or "Always"


def grace_seconds(pod: Any) -> float:
    meta, spec = pod.metadata, pod.spec
    if meta.deletion_grace_period_seconds is not None:
        return float(meta.deletion_grace_period_seconds)
    if spec.termination_grace_period_seconds is not None:
        return float(spec.termination_grace_period_seconds)
    return 30.0


def is_ray_pod(pod: Any) -> bool:
    return (pod.metadata.labels or {}).get("ray.io/node-type") in ("head", "worker")


def is_stand_in(pod: Any) -> bool:
    """A Ray pod asked to stand for the harness's one local Ray head (no processes)."""
    return is_ray_pod(pod) and (pod.metadata.annotations or {}).get(STAND_IN_ANNOTATION) == "stand-in"


def hosts_file(pod_ip: str, hostname: str, names: dict[str, str], namespace: str) -> str:
    """A pod's /etc/hosts: itself, then every service name it can use (short names for its namespace)."""
    lines = ["127.0.0.1\tlocalhost", f"{pod_ip}\t{hostname}"]
    for fqdn, ip in sorted(names.items()):
        # fqdn is NAME.NS.svc.cluster.local
        svc, ns = fqdn.split(".")[:2]
        aliases = [fqdn, f"{svc}.{ns}.svc", f"{svc}.{ns}"]
        if ns == namespace:
            aliases.append(svc)
        lines.append(f"{ip}\t{' '.join(aliases)}")
    return "\n".join(lines) + "\n"
