"""
The Ray dashboard's Jobs and Serve REST API, without I/O.

Builders return :class:`ApiRequest` values; :class:`DashboardCall` says which answers to retry
and which exception each error answer raises. The sync and async hooks only move bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from airflow_provider_kuberay.exceptions import (
    DuplicateSubmissionError,
    RayDashboardError,
    RayJobNotFoundError,
)
from airflow_provider_kuberay.hooks.rbac_hint import missing_permission
from airflow_provider_kuberay.hooks.retry import Answer, is_transient_status

# Ray's answer to a second submission with the same id (400 in older Ray, 500 in newer).
_DUPLICATE_MARKER = "already exists"
_MAX_ERROR_TEXT = 2000


@dataclass(frozen=True)
class ApiRequest:
    """
    One REST call.

    :param method: HTTP method.
    :param path: path below the dashboard URL.
    :param json: JSON body, if any.
    :param data: raw body, if any.
    :param what: words for error messages, e.g. ``"job 'abc'"``.
    """

    method: str
    path: str
    json: Any = None
    data: bytes | None = None
    what: str = "request"


def _job_path(submission_id: str, suffix: str = "") -> str:
    return f"/api/jobs/{quote(submission_id, safe='')}{suffix}"


def submit_job(
    *,
    entrypoint: str,
    submission_id: str,
    runtime_env: Mapping[str, Any] | None = None,
    metadata: Mapping[str, str] | None = None,
    entrypoint_num_cpus: float | None = None,
    entrypoint_num_gpus: float | None = None,
    entrypoint_memory: int | None = None,
    entrypoint_resources: Mapping[str, float] | None = None,
) -> ApiRequest:
    """Request that submits a job under a caller-chosen ``submission_id``."""
    body: dict[str, Any] = {"entrypoint": entrypoint, "submission_id": submission_id}
    optional: dict[str, Any] = {
        "runtime_env": dict(runtime_env) if runtime_env else None,
        "metadata": dict(metadata) if metadata else None,
        "entrypoint_num_cpus": entrypoint_num_cpus,
        "entrypoint_num_gpus": entrypoint_num_gpus,
        "entrypoint_memory": entrypoint_memory,
        "entrypoint_resources": dict(entrypoint_resources) if entrypoint_resources else None,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    # A 5xx after a submit may mean "submitted": the retry would see a duplicate, which
    # the caller handles by adopting, so retrying stays safe.
    return ApiRequest("POST", "/api/jobs/", json=body, what=f"submission of job {submission_id!r}")


def job_info(submission_id: str) -> ApiRequest:
    return ApiRequest("GET", _job_path(submission_id), what=f"job {submission_id!r}")


def job_logs(submission_id: str) -> ApiRequest:
    return ApiRequest("GET", _job_path(submission_id, "/logs"), what=f"logs of job {submission_id!r}")


def job_logs_tail_path(submission_id: str) -> str:
    return _job_path(submission_id, "/logs/tail")


# How often Ray's log agent re-reads a followed log at its end (Ray's own default, and its job
# log tail's, is 1 s): lines reach the task log about this long after the job prints them.
LOG_FOLLOW_INTERVAL = 0.1


def job_log_stream_path(submission_id: str, driver_node_id: str, interval: float = LOG_FOLLOW_INTERVAL) -> str:
    """
    Path of Ray's log streaming endpoint (the state API's) following a job's driver log from its first byte.

    :param submission_id: the job's submission id.
    :param driver_node_id: the node its driver runs on (``driver_node_id`` in the job's details).
    :param interval: seconds between the agent's reads at the end of the log.
    """
    # format=text: Rays of the 2.40 era otherwise prefix every chunk with a status byte; newer Rays ignore it.
    query = urlencode(
        {"node_id": driver_node_id, "submission_id": submission_id, "lines": -1, "interval": interval, "format": "text"}
    )
    return f"/api/v0/logs/stream?{query}"


# How often the agent re-reads the job supervisor's log when following it for the job's end: the end is
# seen about this long after Ray records it.
END_SIGNAL_INTERVAL = 0.05


def supervisor_log_stream_path(submission_id: str, driver_node_id: str, interval: float = END_SIGNAL_INTERVAL) -> str:
    """
    Path of Ray's log streaming endpoint following the job supervisor's own log from its last line.

    Ray's supervisor writes a line there when the job's entrypoint exits (or is stopped), just before
    it records the terminal status: the one push a Ray dashboard gives of a job's end. Rays without
    that log (``jobs/supervisor-<id>.log``) answer with an error.

    :param submission_id: the job's submission id.
    :param driver_node_id: the node its driver, and so its supervisor, runs on.
    :param interval: seconds between the agent's reads at the end of the log.
    """
    query = urlencode(
        {
            "node_id": driver_node_id,
            "filename": f"jobs/supervisor-{submission_id}.log",
            "lines": 1,
            "interval": interval,
            "format": "text",
        }
    )
    return f"/api/v0/logs/stream?{query}"


# Before Ray 2.40 the log stream prefixes every chunk it writes with a status byte (b"1") and cannot be
# asked not to, so the job log of an older Ray is followed through the Jobs API's log tail instead.
PLAIN_LOG_STREAM_SINCE = (2, 40)


def serves_plain_log_stream(ray_version: str) -> bool:
    """Whether a dashboard reporting ``ray_version`` (``/api/version``) streams job logs as plain text."""
    numbers = re.findall(r"\d+", ray_version)[:2]
    return len(numbers) == 2 and (int(numbers[0]), int(numbers[1])) >= PLAIN_LOG_STREAM_SINCE


def stop_job(submission_id: str) -> ApiRequest:
    return ApiRequest("POST", _job_path(submission_id, "/stop"), what=f"stop of job {submission_id!r}")


def delete_job(submission_id: str) -> ApiRequest:
    return ApiRequest("DELETE", _job_path(submission_id), what=f"deletion of job {submission_id!r}")


def list_jobs() -> ApiRequest:
    return ApiRequest("GET", "/api/jobs/", what="job list")


def version() -> ApiRequest:
    return ApiRequest("GET", "/api/version", what="dashboard version")


def package_exists(package_uri: str) -> ApiRequest:
    protocol, name = package_uri.split("://", 1)
    return ApiRequest("GET", f"/api/packages/{protocol}/{name}", what=f"package {package_uri!r}")


def upload_package(package_uri: str, content: bytes) -> ApiRequest:
    protocol, name = package_uri.split("://", 1)
    return ApiRequest(
        "PUT", f"/api/packages/{protocol}/{name}", data=content, what=f"upload of package {package_uri!r}"
    )


def serve_applications() -> ApiRequest:
    return ApiRequest("GET", "/api/serve/applications/", what="Serve applications")


def deploy_serve_applications(config: Mapping[str, Any]) -> ApiRequest:
    return ApiRequest("PUT", "/api/serve/applications/", json=dict(config), what="Serve deployment")


def delete_serve_applications() -> ApiRequest:
    return ApiRequest("DELETE", "/api/serve/applications/", what="Serve shutdown")


def is_duplicate_submission(status_code: int, text: str) -> bool:
    """Whether an answer to a submit says the submission id is taken."""
    return status_code in (400, 500) and _DUPLICATE_MARKER in text


def raise_for_answer(
    request: ApiRequest, status_code: int, text: str, *, url: str | None = None, attempts: int = 1
) -> None:
    """
    Raise the exception matching an error answer; return silently on success.

    :param request: the request that was answered.
    :param status_code: HTTP status of the answer.
    :param text: body of the answer (Ray puts its error or traceback there).
    :param url: the dashboard's URL, named in errors.
    :param attempts: how many times the request was sent (named when a transient error persisted).
    """
    if not 200 <= status_code < 300:
        raise answer_error(request, status_code, text, url=url, attempts=attempts)


# What to check when Ray's token authentication refuses a request (the token itself is never shown).
RAY_TOKEN_HINT = (
    "the Ray cluster has token authentication on and refused the Ray token sent: set the right token as"
    " the ray_dashboard connection's password, or turn the RayCluster's authOptions on so the kuberay"
    " connection reads it from the cluster's Secret; with authOptions.enableK8sTokenAuth the token is the"
    " kuberay connection's Kubernetes bearer token, whose identity needs the verb ray:write on the RayCluster"
)


def answer_error(
    request: ApiRequest, status_code: int, text: str, *, url: str | None = None, attempts: int = 1
) -> RayDashboardError:
    """The exception matching an error answer (parameters as :func:`raise_for_answer`)."""
    detail = _last_line(text)
    if status_code == 404 and request.path.startswith("/api/jobs/"):
        return RayJobNotFoundError(f"Ray dashboard has no {request.what}: {detail}", status_code)
    if request.method == "POST" and request.path == "/api/jobs/" and is_duplicate_submission(status_code, text):
        return DuplicateSubmissionError(f"{request.what} refused: {detail}", status_code)
    if status_code == 403 and (hint := missing_permission(text)):
        detail = hint  # the API server's proxy refused: say which permission the Role lacks
    elif status_code in (401, 403) and "authentication token" in text:
        detail = f"{detail} ({RAY_TOKEN_HINT})"
    where = f" at {url}" if url else ""
    retried = f" after {attempts} attempts" if attempts > 1 and is_transient_status(status_code) else ""
    return RayDashboardError(
        f"Ray dashboard{where} answered HTTP {status_code} to the {request.what}{retried}: {detail}", status_code
    )


@dataclass(frozen=True)
class DashboardCall:
    """
    A request to a dashboard, with the rules of its answers (a :class:`~.retry.CallRules`): 429 and
    5xx are retried, but for a duplicate submission (Ray answers some with 500).

    :param request: the request.
    :param url: the dashboard's URL, named in errors.
    """

    request: ApiRequest
    url: str

    @property
    def reloads_credentials(self) -> bool:
        """A dashboard's headers do not rotate: a 401 is final."""
        return False

    @property
    def label(self) -> str:
        """The call in log lines."""
        return f"Ray dashboard at {self.url}, {self.request.what}"

    def retryable(self, answer: Answer) -> bool:
        """429 and 5xx, but for a duplicate submission."""
        return is_transient_status(answer.status) and not is_duplicate_submission(answer.status, answer.text)

    def answer_error(self, answer: Answer, attempts: int) -> Exception:
        """The dashboard's error (404 of a job: not found; duplicate submission...) with its message."""
        return answer_error(self.request, answer.status, answer.text, url=self.url, attempts=attempts)

    def unreachable_error(self, error: BaseException, attempts: int) -> Exception:
        """The dashboard did not answer."""
        return RayDashboardError(
            f"Ray dashboard at {self.url} unreachable for the {self.request.what} after {attempts} attempts: {error!r}"
        )

    def tls_error(self, error: BaseException) -> Exception:
        """The TLS handshake with the dashboard failed."""
        return RayDashboardError(f"Ray dashboard at {self.url}: TLS failure for the {self.request.what}: {error!r}")


def _last_line(text: str) -> str:
    # Ray answers errors with a Python traceback; its last line says what happened.
    lines = [line for line in text.strip().splitlines() if line.strip()]
    summary = lines[-1].strip() if lines else "(empty answer)"
    return summary[:_MAX_ERROR_TEXT]
