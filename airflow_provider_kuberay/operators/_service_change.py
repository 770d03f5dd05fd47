"""What kind of change a RayService update is, and the merge patch that makes it (pure functions)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

# Hashes of what this provider last applied: telling our change from API-server defaulting.
CLUSTER_HASH = "kuberay.airflow.apache.org/cluster-config-hash"
SPEC_HASH = "kuberay.airflow.apache.org/spec-hash"

UNCHANGED = "unchanged"
SERVE_CONFIG = "serve_config"
CLUSTER = "cluster"
OTHER = "other"
CREATED = "created"


def content_hash(value: Any) -> str:
    """A stable hash of a JSON-like value (key order does not matter)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def parsed_serve_config(spec: Mapping[str, Any]) -> Any:
    """The Serve config of a spec as data, so formatting differences in the YAML do not count."""
    import yaml

    raw = spec.get("serveConfigV2")
    if not isinstance(raw, str):
        return raw
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def is_subset(wanted: Any, actual: Any) -> bool:
    """Whether everything in ``wanted`` is in ``actual`` (extra keys there are defaults, not changes)."""
    if isinstance(wanted, Mapping) and isinstance(actual, Mapping):
        return all(key in actual and is_subset(value, actual[key]) for key, value in wanted.items())
    if isinstance(wanted, list) and isinstance(actual, list):
        return len(wanted) == len(actual) and all(is_subset(w, a) for w, a in zip(wanted, actual, strict=True))
    return bool(wanted == actual)


def _same(desired: Any, current: Any, applied_hash: str | None) -> bool:
    if applied_hash:
        # What we applied last is known: compare with it, so removed fields count as changes too.
        return content_hash(desired) == applied_hash and is_subset(desired, current)
    return is_subset(desired, current)


def classify_change(current: Mapping[str, Any], desired_spec: Mapping[str, Any]) -> str:
    """
    Classify an update of an existing RayService.

    :param current: the RayService as read from the API.
    :param desired_spec: the spec to apply.
    :return: ``unchanged``; ``serve_config`` (only the Serve config differs: applications are
        updated in place on the active cluster); ``cluster`` (the cluster spec differs: a new cluster
        under the upgrade strategy); ``other`` (other fields only, e.g. the upgrade strategy).
    """
    spec = current.get("spec") or {}
    annotations = (current.get("metadata") or {}).get("annotations") or {}
    cluster_same = _same(
        desired_spec.get("rayClusterConfig"), spec.get("rayClusterConfig"), annotations.get(CLUSTER_HASH)
    )
    if not cluster_same:
        return CLUSTER
    if parsed_serve_config(desired_spec) != parsed_serve_config(spec):
        return SERVE_CONFIG
    rest_desired = {k: v for k, v in desired_spec.items() if k not in ("rayClusterConfig", "serveConfigV2")}
    rest_current = {k: v for k, v in spec.items() if k not in ("rayClusterConfig", "serveConfigV2")}
    return UNCHANGED if _same(rest_desired, rest_current, None) else OTHER


def merge_patch(current: Any, desired: Any) -> Any:
    """
    The RFC 7386 merge patch that turns ``current`` into ``desired``: keys missing from ``desired``
    are set to null, lists and scalars are replaced, equal values are left out.
    """
    if not isinstance(current, Mapping) or not isinstance(desired, Mapping):
        return desired
    patch: dict[str, Any] = {key: None for key in current if key not in desired}
    for key, value in desired.items():
        if key not in current:
            patch[key] = value
        elif current[key] != value:
            patch[key] = merge_patch(current[key], value)
    return patch


def upgrade_strategy(spec: Mapping[str, Any]) -> str:
    """The upgrade strategy a spec uses (KubeRay's default is ``NewCluster``)."""
    strategy = spec.get("upgradeStrategy") or {}
    return str(strategy.get("type") or "NewCluster")


def serve_application_names(spec: Mapping[str, Any]) -> list[str]:
    """Application names of a spec's Serve config (``default`` for an unnamed single app)."""
    config = parsed_serve_config(spec)
    apps = config.get("applications") if isinstance(config, Mapping) else None
    return [str(app.get("name", "default")) for app in apps or [] if isinstance(app, Mapping)]


def describe_change(change: str, strategy: str, active_cluster: str) -> str:
    """A sentence for the task log: what the change is and how KubeRay will roll it out."""
    where = f"active cluster {active_cluster}" if active_cluster else "the active cluster"
    if change == UNCHANGED:
        return "Spec unchanged: nothing to apply; checking that it serves"
    if change == SERVE_CONFIG:
        return f"Serve config change only: applications are updated in place on {where} (no new cluster)"
    if change == OTHER:
        return "Change outside the Serve config and cluster spec: no rollout expected"
    if strategy == "NewCluster":
        return (
            f"Cluster spec change under NewCluster: a new RayCluster is created, its applications "
            f"deployed, then traffic switches to it at once and {where} is retired (blue/green)"
        )
    if strategy == "NewClusterWithIncrementalUpgrade":
        return (
            f"Cluster spec change under NewClusterWithIncrementalUpgrade: a new RayCluster is created and "
            f"traffic is shifted to it step by step through the Gateway; {where} is retired at 100%"
        )
    return (
        "Cluster spec change under upgrade strategy None: KubeRay does not roll out cluster changes "
        "(only Serve config changes are applied); the running cluster keeps its old spec"
    )
