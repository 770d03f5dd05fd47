"""
The metadata parameters shared by the operators that create objects (``labels``, ``annotations``,
``queue_name``, ``priority_class``), checked as rendered and turned into what goes on the object.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from airflow_provider_kuberay.kube_labels import KUEUE_PRIORITY_LABEL, KUEUE_QUEUE_LABEL
from airflow_provider_kuberay.specs.names import is_label_key, is_label_value
from airflow_provider_kuberay.tasks import inputs


@dataclass(frozen=True)
class ObjectMetadata:
    """
    What the shared parameters put on a created object.

    :param labels: the object's extra labels (the Kueue labels included).
    :param annotations: the object's extra annotations.
    :param queue_name: the Kueue LocalQueue, or None.
    """

    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    queue_name: str | None = None

    @property
    def suspend(self) -> bool:
        """Kueue admits an object by resuming it: one bound for a queue is created suspended."""
        return self.queue_name is not None


def object_metadata(
    labels: object = None,
    annotations: object = None,
    queue_name: object = None,
    priority_class: object = None,
) -> ObjectMetadata:
    """
    Check the shared parameters, naming the bad one, before any API call.

    :param labels: free-form labels.
    :param annotations: free-form annotations.
    :param queue_name: a Kueue LocalQueue in the object's namespace.
    :param priority_class: a Kueue WorkloadPriorityClass.
    """
    label_map = inputs.string_map(labels, "labels") or {}
    for key, value in label_map.items():
        if not is_label_key(key):
            raise ValueError(f"labels[{key!r}]: not a Kubernetes label key (an optional DNS prefix/, then a name)")
        if not is_label_value(value):
            raise ValueError(f"labels[{key!r}]: {value!r} is not a label value (at most 63 letters, digits, -_.)")
    annotation_map = inputs.string_map(annotations, "annotations") or {}
    for key in annotation_map:
        if not is_label_key(key):
            raise ValueError(
                f"annotations[{key!r}]: not a Kubernetes annotation key (an optional DNS prefix/, then a name)"
            )
    # A queue given only as a label is a queue all the same: the object must be created suspended.
    queue = _kueue_name(queue_name, "queue_name") or _kueue_name(label_map.get(KUEUE_QUEUE_LABEL), "labels")
    priority = _kueue_name(priority_class, "priority_class")
    if priority and not queue:
        raise ValueError("priority_class needs queue_name: Kueue only orders the workloads of a queue")
    for key, given in ((KUEUE_QUEUE_LABEL, queue), (KUEUE_PRIORITY_LABEL, priority)):
        if given is None:
            continue
        if label_map.get(key, given) != given:
            raise ValueError(f"labels[{key!r}] = {label_map[key]!r} contradicts {given!r} given as its parameter")
        label_map[key] = given
    return ObjectMetadata(labels=label_map, annotations=annotation_map, queue_name=queue)


def _kueue_name(value: object, field: str) -> str | None:
    """A Kueue object's name (a label value that is also a DNS-1123 subdomain); empty means not given."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not is_label_value(value) or not value[0].isalnum() or value != value.lower():
        raise ValueError(
            f"{field} must be the name of a Kueue object (lowercase, at most 63 characters), got {value!r}"
        )
    return value
