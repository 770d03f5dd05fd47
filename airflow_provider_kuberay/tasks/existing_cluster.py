"""
What ``KubeRayCreateClusterOperator`` does with a RayCluster of its name that another task instance
(or someone else) made: fail, reuse it when its spec is the same, or replace it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_kuberay.tasks.cluster_lifecycle import SPEC_HASH_LABEL, provider_made, spec_hash

if TYPE_CHECKING:
    from airflow_provider_kuberay.hooks.kuberay import KubeRayHook


def _owner(obj: Mapping[str, Any]) -> str:
    labels = obj.get("metadata", {}).get("labels", {})
    dag, task = labels.get("airflow.apache.org/dag-id"), labels.get("airflow.apache.org/task-id")
    return f"task {dag}.{task}" if dag and task else "something other than this provider"


def apply_policy(
    hook: KubeRayHook,
    policy: str,
    body: dict[str, Any],
    existing: dict[str, Any],
    run_annotations: Mapping[str, str],
    *,
    timeout: float = 300,
) -> tuple[dict[str, Any], str]:
    """
    Settle a RayCluster of ``body``'s name that this task instance did not create. Returns the
    cluster to wait for and a sentence for the task log.

    :param policy: ``fail``, ``reuse`` or ``replace`` (checked by ``check_if_exists``).
    :param body: the cluster this task would create (stamped with its spec hash).
    :param existing: the cluster found under that name.
    :param run_annotations: the DAG run and expiry recorded on a reused cluster (empty: none).
    :param timeout: seconds to wait for a cluster being deleted (or replaced) to go.
    :raises KubeRayConflictError: the policy refuses the existing cluster; the message says why.
    """
    from airflow_provider_kuberay.exceptions import KubeRayConflictError

    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    where = f"RayCluster {namespace}/{name}"
    if policy != "fail" and existing.get("metadata", {}).get("deletionTimestamp"):
        # Being deleted (e.g. by an earlier run's teardown): neither reusable nor ours to replace.
        hook.wait_until_deleted("RayCluster", name, namespace, timeout=timeout)
        return hook.create_object("RayCluster", body, namespace), f"Created {where} after the old one was deleted"
    if policy == "reuse":
        theirs = existing.get("metadata", {}).get("labels", {}).get(SPEC_HASH_LABEL)
        ours = spec_hash(body)
        if theirs != ours:
            why = (
                f"its spec differs from this task's (spec hash {theirs} != {ours})"
                if theirs
                else f"it has no {SPEC_HASH_LABEL} label, so its spec cannot be compared"
            )
            raise KubeRayConflictError(
                f"{where} exists and cannot be reused: {why}. Delete it, use if_exists='replace', "
                "or choose another cluster_name",
                409,
            )
        if run_annotations:  # a cluster_ttl: the reusing run is now the cluster's, and its expiry is renewed
            patch = {"metadata": {"annotations": dict(run_annotations)}}
            existing = hook.patch_object("RayCluster", name, patch, namespace)
        return existing, f"Reused {where} (same spec), created by {_owner(existing)}"
    if policy == "replace":
        if not provider_made(existing):
            raise KubeRayConflictError(
                f"{where} exists and was not created by this provider; if_exists='replace' only replaces "
                "clusters this provider created. Delete it yourself or choose another cluster_name",
                409,
            )
        hook.delete_object("RayCluster", name, namespace)
        hook.wait_until_deleted("RayCluster", name, namespace, timeout=timeout)
        created = hook.create_object("RayCluster", body, namespace)
        return created, f"Replaced {where}, created by {_owner(existing)}"
    raise KubeRayConflictError(
        f"{where} exists and was not created by this task instance (it was created by {_owner(existing)}); "
        "choose another cluster_name, or set if_exists='reuse' or 'replace'",
        409,
    )
