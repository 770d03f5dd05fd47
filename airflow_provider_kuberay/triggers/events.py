"""
The events the triggers send and the tasks read: one outcome vocabulary, one typed class per
trigger family, and the payload (a JSON dict) each becomes on its way through Airflow.

``from_payload`` validates what it reads (a missing field or one of the wrong type raises
:class:`~airflow_provider_kuberay.exceptions.TriggerEventError` naming it) and accepts every payload
the provider's earlier releases sent, so a task deferred by one release resumes after an upgrade:
a field they did not send takes its default. A new event field is a new dataclass field here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, get_origin, get_type_hints

from airflow_provider_kuberay.exceptions import TriggerEventError

if TYPE_CHECKING:
    from airflow_provider_kuberay.status.jobs_api import JobsApiVerdict

E = TypeVar("E", bound="TriggerEventBase")


class Outcome(str, Enum):
    """How a wait ended, for every trigger and every task."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the object or job ended in failure (a job STOPPED included), or is gone
    TIMEOUT = "timeout"  # the task's deadline passed first
    ERROR = "error"  # it could not be followed (an API or dashboard error past the retries)
    WAITING = "waiting"  # an InteractiveMode RayJob's cluster is ready: the task submits the job now


def _strings(value: object) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)


def _string_map(value: object) -> bool:
    return isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


# Field type (as annotated) -> (check of a payload value, conversion to the field's value).
_READERS: dict[str, tuple[Callable[[object], bool], Callable[[Any], Any]]] = {
    "str": (lambda v: isinstance(v, str), str),
    "str | None": (lambda v: v is None or isinstance(v, str), lambda v: v),
    "int | None": (lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)), lambda v: v),
    "Outcome": (lambda v: v in Outcome._value2member_map_, Outcome),
    "list[str]": (_strings, list),
    "dict[str, str]": (_string_map, dict),
    "dict[str, Any]": (lambda v: isinstance(v, Mapping) and all(isinstance(k, str) for k in v), dict),
}


@dataclass(frozen=True, kw_only=True)
class TriggerEventBase:
    """
    What every event carries.

    :param outcome: how the wait ended.
    :param message: what the remote system said (why it failed, what was late, what went wrong).
    """

    outcome: Outcome
    message: str = ""

    @property
    def succeeded(self) -> bool:
        return self.outcome is Outcome.SUCCEEDED

    def to_payload(self) -> dict[str, Any]:
        """The JSON document Airflow carries from the triggerer to the task."""
        payload: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            payload[item.name] = value.value if isinstance(value, Outcome) else _plain(value)
        return payload

    @classmethod
    def _check_payload(cls, payload: Mapping[str, Any]) -> None:
        """Checks of the payload as a whole, before its fields (subclasses add theirs)."""

    @classmethod
    def from_payload(cls: type[E], payload: Mapping[str, Any]) -> E:
        """
        The event a payload describes, validated.

        :raises TriggerEventError: a required field is missing or a field has the wrong type.
        """
        if not isinstance(payload, Mapping):
            raise TriggerEventError(f"a {cls.__name__} payload must be a mapping, got {type(payload).__name__}")
        cls._check_payload(payload)
        types = get_type_hints(cls)
        values: dict[str, Any] = {}
        for item in dataclasses.fields(cls):
            type_name = _type_name(types[item.name])
            required = item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING
            if item.name not in payload:
                if required:
                    raise TriggerEventError(f"{cls.__name__} payload lacks {item.name!r} (it has {sorted(payload)})")
                continue  # an earlier release did not send it: the default
            value = payload[item.name]
            if value is None and not required and "None" not in type_name:
                continue  # null where text is expected: the default
            check, convert = _READERS[type_name]
            if not check(value):
                raise TriggerEventError(
                    f"{cls.__name__} payload field {item.name!r} must be {type_name}, got {value!r:.80}"
                )
            values[item.name] = convert(value)
        return cls(**values)


def _type_name(annotation: object) -> str:
    # Python 3.10 takes ``list[str]`` for a type too (its __name__ is "list"): a generic goes by its text.
    if isinstance(annotation, type) and get_origin(annotation) is None:
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("airflow_provider_kuberay.triggers.events.", "")


def _plain(value: Any) -> Any:
    """A JSON-ready copy (the payload must not share lists or dicts with the event)."""
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


@dataclass(frozen=True, kw_only=True)
class JobsApiEvent(TriggerEventBase):
    """
    The end of following a Ray Jobs API job (:class:`RayDashboardJobTrigger`).

    :param submission_id: the job's submission id.
    :param status: Ray's final status (``None`` when the job was not seen to end).
    :param error_type: Ray's error type for a failure, if any.
    :param log_tail: the job log's last lines when it did not succeed.
    """

    submission_id: str
    status: str | None = None
    error_type: str | None = None
    log_tail: str = ""

    @property
    def subject(self) -> str:
        return f"Ray job {self.submission_id!r}"

    @classmethod
    def ended(cls, submission_id: str, verdict: JobsApiVerdict, log_tail: str = "") -> JobsApiEvent:
        """The event of a job seen terminal: only SUCCEEDED is success (STOPPED did not finish its work)."""
        return cls(
            submission_id=submission_id,
            outcome=Outcome.SUCCEEDED if verdict.succeeded else Outcome.FAILED,
            status=verdict.status.value,
            message=verdict.message,
            error_type=verdict.error_type,
            log_tail=log_tail,
        )


@dataclass(frozen=True, kw_only=True)
class ResourceEvent(TriggerEventBase):
    """
    The end of a wait on one KubeRay object; its payload names the object's ``kind``.

    :param name: the object's name.
    :param namespace: its namespace.
    :param reason: KubeRay's (or the provider's) short reason for a failure.
    :param events: the object's recent Kubernetes events, warnings first, for a failure.
    """

    kind: ClassVar[str]
    name: str
    namespace: str
    reason: str = ""
    events: list[str] = field(default_factory=list)

    @property
    def subject(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    def to_payload(self) -> dict[str, Any]:
        return {"kind": self.kind, **super().to_payload()}

    @classmethod
    def _check_payload(cls, payload: Mapping[str, Any]) -> None:
        if payload.get("kind", cls.kind) != cls.kind:
            raise TriggerEventError(
                f"a {cls.__name__} payload must be of kind {cls.kind!r}, got {payload.get('kind')!r}"
            )


@dataclass(frozen=True, kw_only=True)
class ClusterEvent(ResourceEvent):
    """
    A RayCluster is ready, or will not be (:class:`RayClusterReadyTrigger`).

    :param phase: the cluster's phase when ready.
    :param head_service_name: the head service when ready.
    """

    kind: ClassVar[str] = "RayCluster"
    phase: str = ""
    head_service_name: str = ""


@dataclass(frozen=True, kw_only=True)
class RayJobEvent(ResourceEvent):
    """
    A RayJob is terminal, late, or cannot be followed (:class:`RayJobTrigger`).

    :param phase: the job's phase once terminal.
    :param job_id: the Ray submission id.
    :param ray_cluster_name: the cluster that ran it.
    :param job_status: Ray's job status.
    :param job_deployment_status: KubeRay's deployment status.
    :param dashboard_url: the cluster's dashboard address as KubeRay sees it.
    :param log_tail: the job log's last lines when it did not succeed.
    """

    kind: ClassVar[str] = "RayJob"
    phase: str = ""
    job_id: str = ""
    ray_cluster_name: str = ""
    job_status: str = ""
    job_deployment_status: str = ""
    dashboard_url: str = ""
    log_tail: str = ""


@dataclass(frozen=True, kw_only=True)
class ServiceEvent(ResourceEvent):
    """
    A RayService serves the wanted config, or will not (:class:`RayServiceTrigger`).

    :param carry: the deploying task's own state across the deferral, echoed back.
    :param active_cluster: the cluster serving traffic.
    :param pending_cluster: the cluster being prepared, if any.
    :param applications: application name -> status on the active cluster.
    :param app_messages: application name -> Serve's message, where there is one.
    :param generation: the service's ``metadata.generation``.
    :param observed_generation: the generation KubeRay has observed.
    """

    kind: ClassVar[str] = "RayService"
    carry: dict[str, Any] = field(default_factory=dict)
    active_cluster: str = ""
    pending_cluster: str = ""
    applications: dict[str, str] = field(default_factory=dict)
    app_messages: dict[str, str] = field(default_factory=dict)
    generation: int | None = None
    observed_generation: int | None = None


RESOURCE_EVENTS: dict[str, type[ResourceEvent]] = {cls.kind: cls for cls in (ClusterEvent, RayJobEvent, ServiceEvent)}
TriggerEvent = JobsApiEvent | ClusterEvent | RayJobEvent | ServiceEvent


def event_from_payload(payload: Mapping[str, Any]) -> TriggerEvent:
    """Any of this provider's events from its payload: by its ``kind``, or a Jobs API event (which has none)."""
    if not isinstance(payload, Mapping) or "kind" not in payload:
        return JobsApiEvent.from_payload(payload)
    cls = RESOURCE_EVENTS.get(str(payload["kind"]))
    if cls is None:
        raise TriggerEventError(f"unknown trigger event kind {payload['kind']!r}")
    return cls.from_payload(payload)  # type: ignore[return-value]
