"""Deterministic, KubeRay-valid resource names derived from an Airflow task instance."""

from __future__ import annotations

import hashlib
import re

from airflow_provider_kuberay.specs.errors import SpecValidationError

# KubeRay v1.7.0 (utils/constant.go): a RayCluster name leaves room for the "-serve-svc" suffix
# (63 - 10); RayJob and RayService names leave room for the "-xxxxx" of their generated cluster.
MAX_NAME_LENGTH = {"RayCluster": 53, "RayJob": 47, "RayService": 47}
DNS1123_LABEL_MAX = 63
HASH_LENGTH = 8

# KubeRay validates names as DNS-1035 labels (a DNS-1123 label that starts with a letter).
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def validate_name(name: object, kind: str, path: str = "metadata.name") -> str:
    """
    Check a RayCluster / RayJob / RayService name the way KubeRay's controller does.

    :param name: the proposed name.
    :param kind: ``RayCluster``, ``RayJob`` or ``RayService`` (sets the length limit).
    :param path: the field path named in the error.
    :return: the name, unchanged.
    :raises SpecValidationError: if the name is not a DNS-1035 label or is too long.
    """
    limit = MAX_NAME_LENGTH[kind]
    if not isinstance(name, str) or not name:
        raise SpecValidationError(path, f"{kind} name is missing", "a non-empty DNS-1035 label")
    if len(name) > limit:
        raise SpecValidationError(
            path, f"{kind} name {name!r} has {len(name)} characters", f"at most {limit} for a {kind}"
        )
    if not _DNS1035.match(name):
        raise SpecValidationError(
            path,
            f"{kind} name {name!r} is not a DNS-1035 label",
            "lowercase letters, digits and '-', starting with a letter and ending with a letter or digit",
        )
    return name


def validate_namespace(namespace: object, path: str = "metadata.namespace") -> str:
    """
    Check a namespace name (a DNS-1123 label).

    :param namespace: the namespace.
    :param path: the field path named in the error.
    """
    if not isinstance(namespace, str) or not _DNS1123.match(namespace) or len(namespace) > DNS1123_LABEL_MAX:
        raise SpecValidationError(path, f"{namespace!r} is not a valid namespace", "a DNS-1123 label")
    return namespace


def is_dns1123_label(value: str) -> bool:
    """
    Tell whether a string is a DNS-1123 label (lowercase alphanumerics and '-', at most 63).

    :param value: the string.
    """
    return len(value) <= DNS1123_LABEL_MAX and bool(_DNS1123.match(value))


def is_label_value(value: str) -> bool:
    """
    Tell whether a string is a valid Kubernetes label value.

    :param value: the string.
    """
    return len(value) <= DNS1123_LABEL_MAX and bool(_LABEL_VALUE.match(value))


def is_label_key(key: str) -> bool:
    """
    Tell whether a string is a valid Kubernetes label key (optional DNS prefix, then a name).

    :param key: the string.
    """
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= DNS1123_LABEL_MAX and bool(_QUALIFIED_NAME.match(name))


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return re.sub(r"-{2,}", "-", slug)


def resource_name(
    dag_id: str,
    task_id: str,
    run_id: str,
    map_index: int = -1,
    *,
    kind: str = "RayJob",
    prefix: str = "",
) -> str:
    """
    Build the deterministic name of the resource a task instance creates.

    The same (dag_id, task_id, run_id, map_index) always gives the same name, so a retried or
    restarted task adopts what it created; any other run or map index gives a different name
    (the trailing hash covers all four). The readable part is a slug of dag_id and task_id,
    shortened to fit KubeRay's limit for ``kind``.

    :param dag_id: the DAG id.
    :param task_id: the task id.
    :param run_id: the DAG run id.
    :param map_index: the map index (-1 when the task is not mapped).
    :param kind: ``RayCluster``, ``RayJob`` or ``RayService``.
    :param prefix: optional readable prefix, e.g. ``"ray"``.
    :return: a DNS-1035 label of at most ``MAX_NAME_LENGTH[kind]`` characters.
    """
    limit = MAX_NAME_LENGTH[kind]
    identity = "\x00".join((dag_id, task_id, run_id, str(map_index)))
    digest = hashlib.sha256(identity.encode()).hexdigest()[:HASH_LENGTH]
    readable = _slug("-".join(part for part in (prefix, dag_id, task_id) if part))
    if not readable or not readable[0].isalpha():
        readable = ("r-" + readable).rstrip("-")
    readable = readable[: limit - HASH_LENGTH - 1].rstrip("-")
    return validate_name(f"{readable}-{digest}", kind)
