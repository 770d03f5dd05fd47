"""Where KubeRay's resources live in the Kubernetes REST API, and how its error answers read."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from airflow_provider_kuberay.exceptions import (
    KubeRayApiError,
    KubeRayConflictError,
    KubeRayNotFoundError,
    KubeRayUnavailableError,
)
from airflow_provider_kuberay.hooks.rbac_hint import missing_permission
from airflow_provider_kuberay.hooks.retry import is_transient_status

DEFAULT_NAMESPACE = "default"
MERGE_PATCH = "application/merge-patch+json"
JSON = "application/json"


@dataclass(frozen=True)
class CustomResource:
    """
    The API coordinates of a custom resource kind.

    :param group: API group, e.g. ``ray.io``.
    :param version: API version, e.g. ``v1``.
    :param plural: the plural resource name used in URLs, e.g. ``rayclusters``.
    """

    group: str
    version: str
    plural: str

    @property
    def api_version(self) -> str:
        """The ``apiVersion`` of objects of this kind, e.g. ``ray.io/v1``."""
        return f"{self.group}/{self.version}"

    def collection_path(self, namespace: str) -> str:
        """URL path of the kind's objects in a namespace."""
        return f"/apis/{self.group}/{self.version}/namespaces/{_seg(namespace)}/{self.plural}"

    def object_path(self, namespace: str, name: str) -> str:
        """URL path of one object."""
        return f"{self.collection_path(namespace)}/{_seg(name)}"


KINDS: dict[str, CustomResource] = {
    "RayCluster": CustomResource(group="ray.io", version="v1", plural="rayclusters"),
    "RayJob": CustomResource(group="ray.io", version="v1", plural="rayjobs"),
    "RayService": CustomResource(group="ray.io", version="v1", plural="rayservices"),
}


# Kueue's Workloads, newest API version first (v1beta2 from Kueue 0.15; v1beta1 before, and still served).
KUEUE_WORKLOADS = (
    CustomResource(group="kueue.x-k8s.io", version="v1beta2", plural="workloads"),
    CustomResource(group="kueue.x-k8s.io", version="v1beta1", plural="workloads"),
)
# The label Kueue puts on the Workload of a job: the job's uid.
KUEUE_JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"


def resource_for(kind: str) -> CustomResource:
    """
    Return the API coordinates of a KubeRay kind.

    :param kind: ``RayCluster``, ``RayJob`` or ``RayService``.
    :raises ValueError: for any other kind, naming it.
    """
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown KubeRay kind {kind!r}; expected one of {', '.join(KINDS)}") from None


def _seg(value: str) -> str:
    # Names are DNS labels already; quoting keeps a bad one from changing the path.
    return quote(value, safe="")


def core_path(namespace: str, resource: str, name: str | None = None, sub: str | None = None) -> str:
    """URL path of a core (``/api/v1``) resource: collection, object, or an object's subresource."""
    path = f"/api/v1/namespaces/{_seg(namespace)}/{resource}"
    if name is not None:
        path += f"/{_seg(name)}"
    if sub is not None:
        path += f"/{sub}"
    return path


def with_kind(kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``body`` with ``apiVersion`` and ``kind`` filled in when missing."""
    resource = resource_for(kind)
    filled = dict(body)
    filled.setdefault("apiVersion", resource.api_version)
    filled.setdefault("kind", kind)
    if filled["kind"] != kind:
        raise ValueError(f"body is a {filled['kind']!r}, not a {kind!r}")
    return filled


def object_name(body: Mapping[str, Any]) -> str:
    """The ``metadata.name`` of an object (empty when it has none)."""
    return str((body.get("metadata") or {}).get("name") or "")


def api_message(text: str) -> str:
    """The human part of an API error answer: a ``Status`` object's ``message``, else the raw text."""
    try:
        document = json.loads(text)
    except (ValueError, TypeError):
        return text.strip()[:2000]
    if isinstance(document, dict) and document.get("message"):
        return str(document["message"])
    return text.strip()[:2000]


def api_reason(text: str) -> str:
    """The machine-readable ``reason`` of a ``Status`` answer (e.g. ``TooManyRequests``), else empty."""
    try:
        document = json.loads(text)
    except (ValueError, TypeError):
        return ""
    return str(document.get("reason") or "") if isinstance(document, dict) else ""


def api_error(
    status: int, text: str, what: str, *, attempts: int | None = None, retry_after: float | None = None
) -> KubeRayApiError:
    """
    The exception for an error answer.

    :param status: HTTP status of the answer.
    :param text: its body (usually a ``Status`` object).
    :param what: what was attempted, e.g. ``get RayJob default/my-job``.
    :param attempts: how many attempts got a transient answer (named in the message when > 1).
    :param retry_after: the answer's ``Retry-After``, in seconds.
    """
    reason = api_reason(text)
    message = f"Kubernetes API refused to {what}: HTTP {status}{' ' + reason if reason else ''}: {api_message(text)}"
    if attempts is not None and attempts > 1:
        message += f" (gave up after {attempts} attempts)"
    if status == 403 and (hint := missing_permission(text)):
        message += f" ({hint})"
    if status == 404:
        return KubeRayNotFoundError(message, status)
    if status == 409:
        return KubeRayConflictError(message, status)
    if is_transient(status):
        return KubeRayUnavailableError(message, status, retry_after)
    return KubeRayApiError(message, status)


def is_transient(status: int) -> bool:
    """Whether an API answer is worth retrying (429 and 5xx)."""
    return is_transient_status(status)


def event_time(event: Mapping[str, Any]) -> str:
    """The best timestamp of an Event: the last occurrence, whichever API version wrote it."""
    series = event.get("series") or {}
    for value in (
        event.get("lastTimestamp"),
        series.get("lastObservedTime"),
        event.get("eventTime"),
        event.get("firstTimestamp"),
        (event.get("metadata") or {}).get("creationTimestamp"),
    ):
        if value:
            return str(value)
    return ""


def newest_events(items: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Sort events oldest first, fill ``lastTimestamp``, and keep the newest ``limit``."""
    events = []
    for item in items:
        event = dict(item)
        event["lastTimestamp"] = event_time(item) or None
        events.append(event)
    events.sort(key=lambda e: e["lastTimestamp"] or "")
    return events[-limit:] if limit > 0 else []


def events_field_selector(name: str, kind: str | None) -> str:
    """The ``fieldSelector`` of the events about one object."""
    selector = f"involvedObject.name={name}"
    if kind:
        selector += f",involvedObject.kind={kind}"
    return selector


def config_map_body(
    name: str,
    data: Mapping[str, str],
    namespace: str,
    owner: Mapping[str, Any] | None,
    labels: Mapping[str, str] | None,
) -> dict[str, Any]:
    """
    A ConfigMap document.

    :param owner: an object (with ``apiVersion``, ``kind``, ``metadata.name`` and ``metadata.uid``)
        that owns the ConfigMap, so Kubernetes deletes it with its owner.
    """
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = dict(labels)
    if owner is not None:
        owner_meta = owner.get("metadata") or {}
        metadata["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner_meta["name"],
                "uid": owner_meta["uid"],
                "blockOwnerDeletion": False,
            }
        ]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": dict(data)}


def parse_kubeconfig(value: Any) -> dict[str, Any]:
    """An inline kubeconfig (dict, JSON or YAML text) as a dict, parsed in memory."""
    if isinstance(value, Mapping):
        return dict(value)
    import yaml

    try:
        document = yaml.safe_load(str(value))
    except yaml.YAMLError as err:
        # The text holds credentials: name the problem, never echo the content.
        raise ValueError(f"the connection's kube_config is not valid JSON or YAML ({type(err).__name__})") from None
    if not isinstance(document, dict):
        raise ValueError("the connection's kube_config must be a kubeconfig mapping")
    return document


def existing_file(path: str) -> str:
    """A kubeconfig path, checked to exist (the Kubernetes client would only say "no configuration")."""
    import os

    expanded = os.path.expanduser(path)
    if not os.path.isfile(expanded):
        raise ValueError(f"kube_config_path {path!r} does not exist on this machine")
    return expanded


def config_source(
    *, in_cluster: bool | None, kube_config: Any, kube_config_path: str | None, config_dict: Mapping[str, Any] | None
) -> str:
    """
    Which credentials source applies: ``in_cluster``, ``kube_config`` (inline), ``kube_config_path``,
    ``config_dict`` or ``default`` (in-cluster if possible, else the default kubeconfig file).

    :raises ValueError: when more than one is set.
    """
    chosen = [
        name
        for name, value in (
            ("in_cluster", in_cluster),
            ("kube_config", kube_config),
            ("kube_config_path", kube_config_path),
            ("config_dict", config_dict),
        )
        if value
    ]
    if len(chosen) > 1:
        raise ValueError(f"the connection sets {' and '.join(chosen)}: choose one way to reach Kubernetes")
    return chosen[0] if chosen else "default"
