"""Errors raised by the provider; each carries what the remote system said."""

from __future__ import annotations

from airflow.exceptions import AirflowException


class RayDashboardError(AirflowException):
    """
    The Ray dashboard answered a request with an error.

    :param message: what went wrong, including the dashboard's own answer.
    :param http_status: the HTTP status, or ``None`` when no answer arrived.
    """

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class RayJobNotFoundError(RayDashboardError):
    """The Ray Jobs API does not know the job (HTTP 404)."""


class DuplicateSubmissionError(RayDashboardError):
    """A job with the requested submission id exists already."""


class RayJobFailedError(AirflowException):
    """A Ray job ended in a state other than SUCCEEDED, or could not be followed to its end."""


class KubeRayApiError(AirflowException):
    """
    The Kubernetes API answered a request with an error, or could not be reached.

    :param message: what went wrong, including the API's own ``message``.
    :param http_status: the HTTP status, or ``None`` when no answer arrived.
    """

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class KubeRayNotFoundError(KubeRayApiError):
    """The object does not exist (HTTP 404)."""


class KubeRayConflictError(KubeRayApiError):
    """The object exists already, or changed under us (HTTP 409: AlreadyExists or Conflict)."""


class KubeRayUnavailableError(KubeRayApiError):
    """
    The API could not answer now (unreachable, 429 or 5xx), retries included.

    :param message: what went wrong, including the API's own ``message``.
    :param http_status: the HTTP status, or ``None`` when no answer arrived.
    :param retry_after: seconds the API asked the client to wait (``Retry-After``), if it did.
    """

    def __init__(self, message: str, http_status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, http_status)
        self.retry_after = retry_after


class KubeRayTimeoutError(AirflowException):
    """
    Kubernetes did not reach the awaited state in time (e.g. an object not gone after deletion, a
    cluster not ready by the task's deadline). Not an API error: the API answered, the object lagged.
    """


class KubeRayResourceFailedError(AirflowException):
    """
    A RayCluster or RayService failed (KubeRay or Serve reports a failure that will not heal by itself,
    or the object is gone). Not an API error: the API answered, and the answer is a failure.
    """


class TriggerEventError(AirflowException, ValueError):
    """A trigger event whose payload this provider cannot read (a missing field or one of the wrong type)."""


class KubeRayConnectionError(AirflowException, ValueError):
    """
    A ``kuberay`` or ``ray_dashboard`` connection whose fields cannot work (malformed kubeconfig,
    unknown context, a field of the wrong type...), found before any request. The message names
    the connection and the field, and never echoes a credential.
    """


class KubeRayUnsupportedFieldError(AirflowException, ValueError):
    """
    An object to create holds fields that the KubeRay CRDs installed on the cluster do not have (the
    API server would prune them silently). Found before anything is created; the message names each
    field and the KubeRay release that added it.
    """
