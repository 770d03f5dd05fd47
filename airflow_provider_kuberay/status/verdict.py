"""The verdict type shared by the RayCluster, RayJob and RayService interpreters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from airflow_provider_kuberay.kube_labels import KUEUE_QUEUE_LABEL

# The reason of a verdict on an object that waits, suspended, for Kueue to admit it.
QUEUED = "Queued"


class Phase(str, Enum):
    """Where a KubeRay resource stands, as far as a waiting task is concerned."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    READY = "READY"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SUSPENDED = "SUSPENDED"
    SERVING = "SERVING"
    UPGRADING = "UPGRADING"


@dataclass(frozen=True)
class Verdict:
    """
    The interpretation of one status document.

    :param phase: the phase.
    :param reason: a short machine-friendly reason (KubeRay's when it gives one).
    :param message: a human explanation (KubeRay's when it gives one).
    """

    phase: Phase
    reason: str = ""
    message: str = ""

    @property
    def terminal(self) -> bool:
        """True when the resource will not change on its own any more (succeeded or failed)."""
        return self.phase in (Phase.SUCCEEDED, Phase.FAILED)

    @property
    def succeeded(self) -> bool:
        """True for a job that finished successfully."""
        return self.phase is Phase.SUCCEEDED

    @property
    def failed(self) -> bool:
        """True for a terminal failure (the reason and message say why)."""
        return self.phase is Phase.FAILED

    @property
    def ready(self) -> bool:
        """True for a cluster that is ready or a service that is serving."""
        return self.phase in (Phase.READY, Phase.SERVING)

    def describe(self) -> str:
        """Return a one-line description for logs and exception messages."""
        text = self.phase.value
        if self.reason:
            text += f" ({self.reason})"
        if self.message:
            text += f": {self.message}"
        return text


@dataclass(frozen=True)
class Condition:
    """
    A Kubernetes status condition.

    :param type: the condition type, e.g. ``HeadPodReady``.
    :param status: True, False, or None for ``Unknown``.
    :param reason: the condition's reason.
    :param message: the condition's message.
    """

    type: str
    status: bool | None
    reason: str = ""
    message: str = ""


def status_of(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """
    Return the ``status`` of a resource, or an empty mapping if it has none yet.

    :param obj: the resource as returned by the API (or None).
    """
    if not isinstance(obj, Mapping):
        return {}
    status = obj.get("status")
    return status if isinstance(status, Mapping) else {}


def text(mapping: Mapping[str, Any], key: str) -> str:
    """
    Return ``mapping[key]`` as a string ("" when absent or null).

    :param mapping: a status mapping.
    :param key: the key.
    """
    value = mapping.get(key)
    return "" if value is None else str(value)


def conditions(status: Mapping[str, Any]) -> dict[str, Condition]:
    """
    Return the status conditions by type (malformed entries are skipped).

    :param status: a resource status.
    """
    found: dict[str, Condition] = {}
    raw = status.get("conditions")
    if not isinstance(raw, list):
        return found
    for item in raw:
        if not isinstance(item, Mapping) or not item.get("type"):
            continue
        value = str(item.get("status", "")).lower()
        state = True if value == "true" else False if value == "false" else None
        found[str(item["type"])] = Condition(str(item["type"]), state, text(item, "reason"), text(item, "message"))
    return found


def is_true(found: Mapping[str, Condition], kind: str) -> bool:
    """
    Tell whether condition ``kind`` is present and True.

    :param found: conditions by type.
    :param kind: the condition type.
    """
    condition = found.get(kind)
    return condition is not None and condition.status is True


def generation_lag(obj: Mapping[str, Any] | None) -> bool:
    """
    Tell whether the status describes an older spec than the current one
    (``status.observedGeneration < metadata.generation``); False when either is unknown.

    :param obj: the resource.
    """
    if not isinstance(obj, Mapping):
        return False
    metadata = obj.get("metadata")
    generation = metadata.get("generation") if isinstance(metadata, Mapping) else None
    observed = status_of(obj).get("observedGeneration")
    if not isinstance(generation, int) or not isinstance(observed, int) or observed == 0:
        return False
    return observed < generation


def kueue_queue(obj: Mapping[str, Any] | None) -> str:
    """
    The Kueue LocalQueue an object is labelled with ("" when none).

    :param obj: the RayJob or RayCluster.
    """
    metadata = obj.get("metadata") if isinstance(obj, Mapping) else None
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    queue = labels.get(KUEUE_QUEUE_LABEL) if isinstance(labels, Mapping) else None
    return str(queue) if queue else ""


def queued_message(queue: str, why: str = "") -> str:
    """
    What a verdict on a held object says: the queue, and Kueue's reason when known.

    :param queue: the LocalQueue.
    :param why: Kueue's reason and message (see :func:`~airflow_provider_kuberay.status.kueue.workload_hold`).
    """
    return (
        f"queued in Kueue LocalQueue {queue!r}: {why}"
        if why
        else f"queued in Kueue LocalQueue {queue!r}, waiting to be admitted"
    )


def kueue_hold(obj: Mapping[str, Any] | None, verdict: Verdict) -> Verdict:
    """
    The verdict on an object that Kueue holds: suspended and labelled with a queue, whatever its
    status says so far (Kueue admits it by resuming it). Any other verdict passes unchanged.

    :param obj: the RayJob or RayCluster.
    :param verdict: its verdict from its status.
    """
    if verdict.terminal or not isinstance(obj, Mapping):
        return verdict
    queue, spec = kueue_queue(obj), obj.get("spec")
    if not queue or not isinstance(spec, Mapping) or spec.get("suspend") is not True:
        return verdict
    return Verdict(Phase.SUSPENDED, QUEUED, queued_message(queue))
