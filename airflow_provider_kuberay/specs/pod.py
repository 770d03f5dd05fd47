"""Pod templates for Ray head and worker groups, with the provider's defaults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Defaults every Ray container gets (the user can override each through the escape hatch).
RAY_LOGS_VOLUME = "ray-logs"  # the name KubeRay itself uses for /tmp/ray, so it never adds a second one
RAY_LOGS_PATH = "/tmp/ray"
USAGE_STATS_ENV = "RAY_USAGE_STATS_ENABLED"
PRE_STOP = {"exec": {"command": ["/bin/sh", "-c", "ray stop"]}}
HEAD_PORTS = (("gcs-server", 6379), ("dashboard", 8265), ("client", 10001), ("serve", 8000))

EnvInput = Mapping[str, str] | Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class PodOptions:
    """
    Pod-level settings shared by head and worker groups.

    :param env: environment of the Ray container: a name->value mapping, or a list of Kubernetes
        EnvVar dicts (for ``valueFrom``).
    :param volumes: extra pod volumes (Kubernetes Volume dicts).
    :param volume_mounts: extra mounts of the Ray container.
    :param node_selector: node labels the pods must run on.
    :param tolerations: Kubernetes tolerations (e.g. for GPU node taints).
    :param service_account_name: the pods' service account.
    :param labels: pod labels.
    :param annotations: pod annotations.
    :param image_pull_policy: the Ray container's image pull policy.
    :param image_pull_secrets: names of image pull secrets.
    """

    env: EnvInput = field(default_factory=dict)
    volumes: Sequence[Mapping[str, Any]] = ()
    volume_mounts: Sequence[Mapping[str, Any]] = ()
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, Any]] = ()
    service_account_name: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    image_pull_policy: str | None = None
    image_pull_secrets: Sequence[str] = ()


def env_list(env: EnvInput) -> list[dict[str, Any]]:
    """
    Turn env input into a Kubernetes EnvVar list, adding ``RAY_USAGE_STATS_ENABLED=0`` unless set.

    :param env: a mapping or a list of EnvVar dicts.
    """
    if isinstance(env, Mapping):
        items: list[dict[str, Any]] = [{"name": k, "value": str(v)} for k, v in env.items()]
    else:
        items = [dict(item) for item in env]
    if not any(item.get("name") == USAGE_STATS_ENV for item in items):
        items.append({"name": USAGE_STATS_ENV, "value": "0"})
    return items


def pod_template(
    *,
    container_name: str,
    image: str | None,
    resources: Mapping[str, Any],
    options: PodOptions,
    head: bool,
) -> dict[str, Any]:
    """
    Build the pod template of a Ray group: one Ray container with the defaults (``/tmp/ray``
    emptyDir, ``ray stop`` preStop hook, usage stats off, head ports).

    :param container_name: the Ray container's name.
    :param image: the Ray image (validated later, so a missing image is reported by field).
    :param resources: the container's resources dict.
    :param options: the pod options.
    :param head: whether this is the head group (adds the Ray ports).
    """
    mounts = [dict(m) for m in options.volume_mounts]
    # A user mount at /tmp/ray (e.g. a PVC for logs) replaces the default emptyDir.
    default_logs = not any(m.get("mountPath") == RAY_LOGS_PATH for m in mounts)
    if default_logs:
        mounts.insert(0, {"name": RAY_LOGS_VOLUME, "mountPath": RAY_LOGS_PATH})
    container: dict[str, Any] = {"name": container_name, "image": image}
    if options.image_pull_policy:
        container["imagePullPolicy"] = options.image_pull_policy
    if head:
        container["ports"] = [{"containerPort": port, "name": name} for name, port in HEAD_PORTS]
    if resources:
        container["resources"] = dict(resources)
    container["env"] = env_list(options.env)
    container["volumeMounts"] = mounts
    container["lifecycle"] = {"preStop": PRE_STOP}

    user_volumes = [dict(v) for v in options.volumes]
    volumes = user_volumes
    if default_logs and not any(v.get("name") == RAY_LOGS_VOLUME for v in user_volumes):
        volumes = [{"name": RAY_LOGS_VOLUME, "emptyDir": {}}, *user_volumes]
    pod: dict[str, Any] = {"containers": [container], "volumes": volumes}
    if options.node_selector:
        pod["nodeSelector"] = dict(options.node_selector)
    if options.tolerations:
        pod["tolerations"] = [dict(t) for t in options.tolerations]
    if options.service_account_name:
        pod["serviceAccountName"] = options.service_account_name
    if options.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": s} for s in options.image_pull_secrets]
    template: dict[str, Any] = {"spec": pod}
    metadata: dict[str, Any] = {}
    if options.labels:
        metadata["labels"] = dict(options.labels)
    if options.annotations:
        metadata["annotations"] = dict(options.annotations)
    if metadata:
        template["metadata"] = metadata
    return template
