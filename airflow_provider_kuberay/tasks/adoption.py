"""Retry-safe create-or-adopt of KubeRay objects, and deleting only what this task instance created."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_kuberay.tasks.clearing import CLEAR_KILL_WAIT

if TYPE_CHECKING:
    from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
    from airflow_provider_kuberay.tasks.identity import TaskIdentity


def create_or_adopt(
    hook: KubeRayHook,
    kind: str,
    body: dict[str, Any],
    identity: TaskIdentity,
    *,
    replace_if: Callable[[dict[str, Any]], bool],
    if_foreign: Callable[[dict[str, Any]], tuple[dict[str, Any], str]] | None = None,
    deleted_by_the_clear: Callable[[dict[str, Any]], bool] | None = None,
) -> tuple[dict[str, Any], str]:
    """
    Create the object, or adopt the one an earlier attempt of this task instance created.

    An object of the same name that another task owns is never adopted: it is an error, unless
    ``if_foreign`` decides (e.g. a cluster reuse policy). An object of ours from an earlier try for
    which ``replace_if`` holds (e.g. a failed job) is deleted and created again.
    Returns the object and a sentence for the task log.

    :param deleted_by_the_clear: a user cleared the task into this try, and the earlier try's trigger
        deletes its object when this holds for it (``on_kill``, e.g. a job still running). That may
        land just after this try starts: wait for it (at most ``CLEAR_KILL_WAIT``) and create the object
        anew, instead of adopting one about to go. Without a delete (no trigger ``on_kill`` before
        Airflow 3.3) the object is adopted after the wait.
    """
    from airflow_provider_kuberay.exceptions import KubeRayConflictError

    name, namespace = body["metadata"]["name"], body["metadata"].get("namespace")
    try:
        return hook.create_object(kind, body, namespace), f"Created {kind} {namespace}/{name}"
    except KubeRayConflictError:
        existing = hook.get_object(kind, name, namespace)
    if not identity.owns(existing):
        if if_foreign is not None:
            return if_foreign(existing)
        raise KubeRayConflictError(
            f"{kind} {namespace}/{name} exists and was not created by this task instance; "
            "choose another name (it is never adopted or replaced)",
            409,
        )
    if deleted_by_the_clear and identity.created_in_earlier_try(existing) and deleted_by_the_clear(existing):
        if _gone_within(hook, kind, name, namespace, CLEAR_KILL_WAIT):
            created = hook.create_object(kind, body, namespace)
            return created, f"Created {kind} {namespace}/{name} anew: the clear deleted the earlier try's"
        existing = hook.get_object(kind, name, namespace)
    if identity.created_in_earlier_try(existing) and replace_if(existing):
        hook.delete_object(kind, name, namespace)
        hook.wait_until_deleted(kind, name, namespace)
        created = hook.create_object(kind, body, namespace)
        return created, f"Replaced {kind} {namespace}/{name} left by an earlier try"
    return existing, f"Adopted {kind} {namespace}/{name}, created by an earlier attempt of this task"


def _gone_within(hook: KubeRayHook, kind: str, name: str, namespace: str | None, timeout: float) -> bool:
    from airflow_provider_kuberay.exceptions import KubeRayTimeoutError

    try:
        hook.wait_until_deleted(kind, name, namespace, timeout=timeout, poll_interval=0.5)
    except KubeRayTimeoutError:
        return False
    return True


def delete_if_owned(hook: KubeRayHook, kind: str, name: str, namespace: str, identity: TaskIdentity) -> bool:
    """Delete the object if this task instance created it (any try); never another task's object."""
    existing = hook.find_object(kind, name, namespace)
    if existing is None or not identity.owns(existing):
        return False
    return hook.delete_object(kind, name, namespace)


def delete_named(
    conn_id: str,
    kind: str,
    name: str,
    field: str,
    namespace: str | None,
    *,
    log: Callable[..., object],
    wait: bool,
    timeout: float,
) -> tuple[bool, KubeRayHook, str]:
    """
    The delete operators' common step: check the inputs (before any call), delete the named object
    and, with ``wait``, wait until it is gone. Returns whether it existed, the hook and the namespace.

    :param log: a logger's ``info`` method, told what is deleted.
    """
    from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
    from airflow_provider_kuberay.tasks import inputs

    if not name:
        raise ValueError(f"{field} must name the {kind} to delete")
    inputs.resource_name(name, field, kind)
    inputs.namespace(namespace)
    hook = KubeRayHook(conn_id)
    hook.check_connection()
    ns = hook.namespace_or_default(namespace)
    existed = hook.delete_object(kind, name, ns)
    log(f"Deleting {kind} %s/%s" if existed else f"{kind} %s/%s does not exist", ns, name)
    if wait:
        hook.wait_until_deleted(kind, name, ns, timeout=timeout)
    return existed, hook, ns
