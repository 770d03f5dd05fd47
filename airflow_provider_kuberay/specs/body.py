"""Whole-resource validation: apiVersion, kind, metadata, then the kind's spec."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_kuberay.specs.checks import mapping, optional_mapping, string_map
from airflow_provider_kuberay.specs.errors import SpecValidationError, child
from airflow_provider_kuberay.specs.merge import OverrideSource, deep_merge, load_overrides
from airflow_provider_kuberay.specs.names import (
    is_label_key,
    is_label_value,
    validate_name,
    validate_namespace,
)
from airflow_provider_kuberay.specs.validate_cluster import validate_cluster_spec
from airflow_provider_kuberay.specs.validate_job import validate_job_spec
from airflow_provider_kuberay.specs.validate_service import validate_service_spec

API_VERSION = "ray.io/v1"
KINDS = ("RayCluster", "RayJob", "RayService")
_SPEC_VALIDATORS: Mapping[str, Callable[..., None]] = {
    "RayCluster": validate_cluster_spec,
    "RayJob": validate_job_spec,
    "RayService": validate_service_spec,
}


def validate_body(body: object, kind: str | None = None) -> None:
    """
    Validate a complete ``ray.io/v1`` RayCluster, RayJob or RayService body.

    :param body: the resource as a dict.
    :param kind: the kind it must be (None: any of the three).
    :raises SpecValidationError: naming the first invalid field.
    """
    body = mapping(body, "<body>", "a resource mapping with apiVersion, kind, metadata and spec")
    if body.get("apiVersion") != API_VERSION:
        raise SpecValidationError("apiVersion", f"{body.get('apiVersion')!r}", API_VERSION)
    allowed = (kind,) if kind else KINDS
    if body.get("kind") not in allowed:
        raise SpecValidationError("kind", f"{body.get('kind')!r}", ", ".join(allowed))
    resource_kind: str = body["kind"]
    metadata = optional_mapping(body, "metadata", "")
    if "generateName" in metadata and "name" not in metadata:
        raise SpecValidationError("metadata.generateName", "random names defeat retry-safe adoption", "metadata.name")
    validate_name(metadata.get("name"), resource_kind)
    if metadata.get("namespace") is not None:
        validate_namespace(metadata["namespace"])
    for key, value in string_map(metadata, "labels", "metadata").items():
        if not is_label_key(key) or not is_label_value(value):
            raise SpecValidationError(
                child("metadata.labels", key), f"invalid label {key}={value!r}", "Kubernetes label syntax"
            )
    annotations = string_map(metadata, "annotations", "metadata")
    if body.get("spec") is None:
        raise SpecValidationError("spec", "is missing", f"a {resource_kind} spec")
    _SPEC_VALIDATORS[resource_kind](body["spec"], "spec", annotations=annotations)


def resource_body(
    kind: str,
    name: str,
    spec: Mapping[str, Any],
    *,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """
    Assemble a resource body (not yet validated).

    :param kind: ``RayCluster``, ``RayJob`` or ``RayService``.
    :param name: ``metadata.name``.
    :param spec: the spec dict.
    :param namespace: ``metadata.namespace`` (omitted when None).
    :param labels: ``metadata.labels``.
    :param annotations: ``metadata.annotations``.
    """
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": dict(spec)}


def complete_body(
    kind: str,
    name: str,
    spec: Mapping[str, Any],
    *,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    overrides: OverrideSource | None = None,
) -> dict[str, Any]:
    """Assemble a resource body, merge the raw ``overrides`` on top, and validate the result."""
    body = resource_body(kind, name, spec, namespace=namespace, labels=labels, annotations=annotations)
    body = deep_merge(body, load_overrides(overrides))
    validate_body(body, kind)
    return body
