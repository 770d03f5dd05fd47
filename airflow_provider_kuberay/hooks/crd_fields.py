"""
Fields the installed KubeRay CRDs do not know. The API server prunes unknown fields without a word,
so ``deletionStrategy`` sent to a KubeRay 1.4 cluster vanishes and the RayCluster is never deleted:
an object is checked against its CRD's schema before it is created, and such a field fails the task,
named with the KubeRay release that added it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_kuberay.exceptions import KubeRayUnsupportedFieldError
from airflow_provider_kuberay.hooks import kube_resources as kr

# Where each kind embeds a RayCluster spec.
_CLUSTER_SPEC = {"RayCluster": "spec", "RayJob": "spec.rayClusterSpec", "RayService": "spec.rayClusterConfig"}

# The KubeRay release that added a field (read from each release's CRDs), relative to a RayCluster spec...
_CLUSTER_FIELDS = {
    "authOptions": "1.5",
    "headGroupSpec.labels": "1.5",
    "headGroupSpec.resources": "1.5",
    "workerGroupSpecs[].labels": "1.5",
    "workerGroupSpecs[].resources": "1.5",
    "authOptions.enableK8sTokenAuth": "1.6",
    "authOptions.secretName": "1.6",
    "upgradeStrategy": "1.6",
    "autoscalerOptions.args": "1.7",
    "autoscalerOptions.command": "1.7",
    "gcsFaultToleranceOptions.backend": "1.7",
    "gcsFaultToleranceOptions.storage": "1.7",
    "headGroupSpec.ingressOptions": "1.7",
    "historyServerOptions": "1.7",
    "networkPolicy": "1.7",
    "tlsOptions": "1.7",
    "workerGroupSpecs[].priority": "1.7",
}
# ...and of the kinds' own fields.
_KIND_FIELDS = {
    "RayJob": {
        "spec.deletionStrategy": "1.5",
        "spec.deletionStrategy.deletionRules[].condition.jobDeploymentStatus": "1.6",
        "spec.preRunningDeadlineSeconds": "1.6",
    },
    "RayService": {
        "spec.rayClusterDeletionDelaySeconds": "1.5",
        "spec.upgradeStrategy.clusterUpgradeOptions": "1.5",
        "spec.managedBy": "1.6",
        "spec.suspend": "1.7",
    },
}


def crd_name(kind: str) -> str:
    """The name of a kind's CustomResourceDefinition, e.g. ``rayjobs.ray.io``."""
    resource = kr.resource_for(kind)
    return f"{resource.plural}.{resource.group}"


def crd_path(kind: str) -> str:
    """URL path of a kind's CustomResourceDefinition."""
    return f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd_name(kind)}"


def object_schema(kind: str, crd: Mapping[str, Any]) -> dict[str, Any] | None:
    """The OpenAPI schema of the provider's API version in a CRD (``None`` when the CRD has none)."""
    version = kr.resource_for(kind).version
    for served in crd.get("spec", {}).get("versions") or []:
        if served.get("name") == version:
            schema = (served.get("schema") or {}).get("openAPIV3Schema")
            return dict(schema) if isinstance(schema, Mapping) else None
    return None


def unknown_fields(schema: Mapping[str, Any], value: Any, path: str = "") -> list[str]:
    """
    The paths (``spec.workerGroupSpecs[0].priority``) in ``value`` that ``schema`` does not declare,
    where the API server would prune them: objects with ``properties``, not marked to keep unknown fields.
    """
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    found: list[str] = []
    if isinstance(value, Mapping):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if path == "" and key == "status":
                continue  # the API server ignores status on create
            if isinstance(properties, Mapping) and key in properties:
                found += unknown_fields(properties[key], item, where)
            elif isinstance(extra, Mapping):
                found += unknown_fields(extra, item, f"{path}[{key!r}]")
            elif isinstance(properties, Mapping):
                found.append(where)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            found += unknown_fields(schema["items"], item, f"{path}[{index}]")
    return found


def added_in(kind: str, path: str) -> str | None:
    """The KubeRay release that added the field at ``path`` (list indices allowed), if known."""
    generic = re.sub(r"\[\d+\]", "[]", path)
    if generic in _KIND_FIELDS.get(kind, {}):
        return _KIND_FIELDS[kind][generic]
    prefix = _CLUSTER_SPEC[kind] + "."
    return _CLUSTER_FIELDS.get(generic[len(prefix) :]) if generic.startswith(prefix) else None


def check_fields(kind: str, body: Mapping[str, Any], schema: Mapping[str, Any] | None) -> None:
    """
    Fail when ``body`` holds a field the installed CRD's ``schema`` lacks (``None``: schema unknown, no check).

    :raises KubeRayUnsupportedFieldError: naming each such field and the KubeRay release that added it.
    """
    if schema is None:
        return
    unknown = unknown_fields(schema, body)
    if not unknown:
        return
    lines = []
    for path in unknown:
        release = added_in(kind, path)
        since = f"added in KubeRay {release}" if release else "not a field of the installed KubeRay release"
        lines.append(f"  {path}: {since}")
    raise KubeRayUnsupportedFieldError(
        f"{kind} {kr.object_name(body)!r} uses fields that the {crd_name(kind)} CRD installed on the cluster "
        "does not have (the API server would drop them silently):\n"
        + "\n".join(lines)
        + "\nUpgrade KubeRay (its CRDs and operator) on the cluster, or leave these fields out."
    )
