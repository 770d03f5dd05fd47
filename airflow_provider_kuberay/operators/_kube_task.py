"""What the Kubernetes-side operators share: names, labels and retry-safe create-or-adopt."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from airflow_provider_kuberay.job_ids import task_key_hash
from airflow_provider_kuberay.operators._deferral import wait_with

__all__ = [
    "TaskIdentity",
    "create_or_adopt",
    "deferral_timed_out",
    "delete_if_owned",
    "fail_deferral_timeout",
    "failure_text",
    "wait_with",
]

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_kuberay.hooks.kuberay import KubeRayHook

MANAGED_BY = "airflow-provider-kuberay"
TASK_LABEL = "kuberay.airflow.apache.org/task-instance"
TRY_LABEL = "kuberay.airflow.apache.org/try-number"
# How Airflow resumes a task only to fail it: ``next_method`` and the ``error`` of a deferral whose
# timeout passed before its trigger fired (the values of Airflow's TRIGGER_FAIL_REPR and
# TriggerFailureReason.TRIGGER_TIMEOUT, spelled out so the worker needs no core import).
TRIGGER_FAIL_METHOD = "__fail__"
TRIGGER_TIMEOUT_ERROR = "Trigger timeout"
_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _label_value(value: str) -> str:
    # Label values: at most 63 characters, alphanumerics and -_. inside.
    return _LABEL_UNSAFE.sub("-", value)[:63].strip("-_.")


@dataclass(frozen=True)
class TaskIdentity:
    """The task instance a resource belongs to, as names and labels Kubernetes accepts."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    try_number: int

    @classmethod
    def from_context(cls, context: Context) -> TaskIdentity:
        ti = context["ti"]
        map_index = ti.map_index if ti.map_index is not None else -1
        return cls(ti.dag_id, ti.task_id, ti.run_id, map_index, int(ti.try_number or 1))

    @property
    def key(self) -> str:
        return task_key_hash(self.dag_id, self.task_id, self.run_id, self.map_index)

    def labels(self) -> dict[str, str]:
        return {
            "app.kubernetes.io/managed-by": MANAGED_BY,
            "airflow.apache.org/dag-id": _label_value(self.dag_id),
            "airflow.apache.org/task-id": _label_value(self.task_id),
            TASK_LABEL: self.key,
            TRY_LABEL: str(self.try_number),
        }

    def owns(self, obj: dict[str, Any]) -> bool:
        return obj.get("metadata", {}).get("labels", {}).get(TASK_LABEL) == self.key

    def created_in_earlier_try(self, obj: dict[str, Any]) -> bool:
        created_by = obj.get("metadata", {}).get("labels", {}).get(TRY_LABEL, "0")
        return int(created_by) < self.try_number if created_by.isdigit() else True


def create_or_adopt(
    hook: KubeRayHook,
    kind: str,
    body: dict[str, Any],
    identity: TaskIdentity,
    *,
    replace_if: Callable[[dict[str, Any]], bool],
) -> tuple[dict[str, Any], str]:
    """
    Create the object, or adopt the one an earlier attempt of this task instance created.

    An object of the same name that another task owns is never adopted. An object of ours from an
    earlier try for which ``replace_if`` holds (e.g. a failed job) is deleted and created again.
    Returns the object and a sentence for the task log.
    """
    from airflow_provider_kuberay.exceptions import KubeRayConflictError

    name, namespace = body["metadata"]["name"], body["metadata"].get("namespace")
    try:
        return hook.create_object(kind, body, namespace), f"Created {kind} {namespace}/{name}"
    except KubeRayConflictError:
        existing = hook.get_object(kind, name, namespace)
    if not identity.owns(existing):
        raise KubeRayConflictError(
            f"{kind} {namespace}/{name} exists and was not created by this task instance; "
            "choose another name (it is never adopted or replaced)",
            409,
        )
    if identity.created_in_earlier_try(existing) and replace_if(existing):
        hook.delete_object(kind, name, namespace)
        hook.wait_until_deleted(kind, name, namespace)
        created = hook.create_object(kind, body, namespace)
        return created, f"Replaced {kind} {namespace}/{name} left by an earlier try"
    return existing, f"Adopted {kind} {namespace}/{name}, created by an earlier attempt of this task"


def deferral_timed_out(next_method: str, next_kwargs: Mapping[str, Any] | None) -> bool:
    """
    Whether Airflow resumes the task only to fail it with ``TaskDeferralTimeout`` (the deferral
    outlived its timeout). Neither ``execute_complete`` nor ``on_kill`` runs then, so the operator
    must clean up before Airflow raises.
    """
    # ``==``, not ``str()``: Airflow passes a str-valued enum member, or its value after a round trip.
    return next_method == TRIGGER_FAIL_METHOD and (next_kwargs or {}).get("error") == TRIGGER_TIMEOUT_ERROR


def fail_deferral_timeout(resume: Callable[[], Any], explanation: str) -> NoReturn:
    """
    Let Airflow fail the timed-out deferral (``resume`` calls ``BaseOperator.resume_execution``), with
    ``explanation`` (what timed out, what the task cleaned up) as the message instead of Airflow's bare
    reason. The exception keeps Airflow's type, so states and retries behave as usual.
    """
    try:
        resume()
    except Exception as err:
        raise type(err)(explanation) from err
    raise RuntimeError("Airflow resumed a timed-out deferral without failing it")


def delete_if_owned(hook: KubeRayHook, kind: str, name: str, namespace: str, identity: TaskIdentity) -> bool:
    """Delete the object if this task instance created it (any try); never another task's object."""
    existing = hook.find_object(kind, name, namespace)
    if existing is None or not identity.owns(existing):
        return False
    return hook.delete_object(kind, name, namespace)


def delete_named(
    conn_id: str, kind: str, name: str, field: str, namespace: str | None, *, log: Any, wait: bool, timeout: float
) -> tuple[bool, KubeRayHook, str]:
    """
    The delete operators' common step: check the inputs (before any call), delete the named object
    and, with ``wait``, wait until it is gone. Returns whether it existed, the hook and the namespace.
    """
    from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
    from airflow_provider_kuberay.operators import _inputs as inputs

    if not name:
        raise ValueError(f"{field} must name the {kind} to delete")
    inputs.resource_name(name, field, kind)
    inputs.namespace(namespace)
    hook = KubeRayHook(conn_id)
    hook.check_connection()
    ns = hook.namespace_or_default(namespace)
    existed = hook.delete_object(kind, name, ns)
    log.info(f"Deleting {kind} %s/%s" if existed else f"{kind} %s/%s does not exist", ns, name)
    if wait:
        hook.wait_until_deleted(kind, name, ns, timeout=timeout)
    return existed, hook, ns


def failure_text(event: dict[str, Any]) -> str:
    """A task failure message from a KubeRay trigger event: reason, message, log tail and events."""
    head = f"{event.get('kind')} {event.get('namespace')}/{event.get('name')}"
    outcome = event.get("outcome")
    if outcome == "timeout":
        head += " timed out: it did not finish before the task's deadline"
    elif outcome == "error":
        head += " could not be followed"
    else:
        head += " failed"
    if event.get("reason"):
        head += f" ({event['reason']})"
    parts = [head + (f": {event['message']}" if event.get("message") else "")]
    if event.get("job_status") or event.get("job_deployment_status"):
        parts.append(
            f"Ray job status: {event.get('job_status') or '?'}, deployment: {event.get('job_deployment_status') or '?'}"
        )
    if event.get("log_tail"):
        parts.append("Last lines of the job log:\n" + str(event["log_tail"]))
    if event.get("events"):
        parts.append("Recent events:\n" + "\n".join(f"  {line}" for line in event["events"]))
    return "\n".join(parts)
