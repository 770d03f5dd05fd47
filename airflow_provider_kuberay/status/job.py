"""RayJob status -> verdict. Success only on Complete + SUCCEEDED; every other end is a failure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_kuberay.status.verdict import Phase, Verdict, kueue_hold, status_of, text

# KubeRay v1.7.0 JobDeploymentStatus values ("" is a RayJob the operator has not picked up yet).
INITIALIZING = "Initializing"
RUNNING = "Running"
COMPLETE = "Complete"
FAILED = "Failed"
VALIDATION_FAILED = "ValidationFailed"
SUSPENDING = "Suspending"
SUSPENDED = "Suspended"
RETRYING = "Retrying"
WAITING = "Waiting"
DEPLOYMENT_STATUSES = (
    INITIALIZING,
    RUNNING,
    COMPLETE,
    FAILED,
    VALIDATION_FAILED,
    SUSPENDING,
    SUSPENDED,
    RETRYING,
    WAITING,
)
# Ray job statuses ("" before submission).
JOB_STATUSES = ("PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED")
_TERMINAL_JOB_STATUSES = ("STOPPED", "SUCCEEDED", "FAILED")


def job_verdict(obj: Mapping[str, Any] | None) -> Verdict:
    """
    Interpret a RayJob.

    ``Complete`` + ``SUCCEEDED`` is the only success. ``Complete`` with any other job status,
    ``Failed`` (written only once the backoff limit is used up) and ``ValidationFailed`` (never
    left) are terminal failures carrying KubeRay's reason and message. ``Retrying`` is not
    terminal. ``Suspending``/``Suspended`` are reported as SUSPENDED, not as failures. Without a
    ``jobDeploymentStatus`` (very old operators) the Ray ``jobStatus`` alone decides.

    A suspended RayJob labelled with a Kueue queue is SUSPENDED (``Queued``), naming the queue.

    :param obj: the RayJob as returned by the API.
    """
    return kueue_hold(obj, _job_status_verdict(obj))


def _job_status_verdict(obj: Mapping[str, Any] | None) -> Verdict:
    status = status_of(obj)
    deployment = text(status, "jobDeploymentStatus")
    job_status = text(status, "jobStatus").upper()
    reason = text(status, "reason")
    message = text(status, "message")
    if not status:
        return Verdict(Phase.PENDING, "NoStatus", "the KubeRay operator has not reported on this job yet")
    if "jobDeploymentStatus" not in status:
        return _from_job_status(job_status, reason, message)
    if deployment == COMPLETE:
        if job_status == "SUCCEEDED":
            return Verdict(Phase.SUCCEEDED, "JobSucceeded", message)
        return Verdict(
            Phase.FAILED,
            reason or f"Job{(job_status or 'Unknown').title()}",
            message or f"the Ray job ended with status {job_status or 'unknown'}",
        )
    if deployment == FAILED:
        return Verdict(
            Phase.FAILED,
            reason or FAILED,
            message or f"the RayJob failed (job status {job_status or 'unknown'})",
        )
    if deployment == VALIDATION_FAILED:
        return Verdict(Phase.FAILED, reason or VALIDATION_FAILED, message or "KubeRay rejected the RayJob spec")
    if deployment in (SUSPENDING, SUSPENDED):
        return Verdict(Phase.SUSPENDED, deployment, message)
    if deployment == RETRYING:
        previous = f" after {reason}" if reason else ""
        return Verdict(Phase.PENDING, RETRYING, f"retrying the job{previous}" + (f": {message}" if message else ""))
    if deployment == RUNNING:
        if job_status in ("", "PENDING"):
            return Verdict(Phase.PENDING, "JobPending", message or "the cluster is up; the Ray job has not started")
        return Verdict(Phase.RUNNING, f"Job{job_status.title()}", message)
    if deployment == WAITING:
        return Verdict(Phase.PENDING, WAITING, message or "waiting for a job submission (InteractiveMode)")
    if deployment in ("", INITIALIZING):
        return Verdict(Phase.PENDING, deployment or "New", message or "creating the Ray cluster and submitter")
    return Verdict(Phase.PENDING, "UnknownJobDeploymentStatus", f"jobDeploymentStatus {deployment!r} is not known")


def _from_job_status(job_status: str, reason: str, message: str) -> Verdict:
    if job_status == "SUCCEEDED":
        return Verdict(Phase.SUCCEEDED, "JobSucceeded", message)
    if job_status in _TERMINAL_JOB_STATUSES:
        return Verdict(Phase.FAILED, reason or f"Job{job_status.title()}", message or f"the Ray job ended {job_status}")
    if job_status == "RUNNING":
        return Verdict(Phase.RUNNING, "JobRunning", message)
    return Verdict(Phase.PENDING, "JobPending", message)


@dataclass(frozen=True)
class RayJobInfo:
    """
    The facts of a RayJob status worth pushing to XCom or logging.

    :param job_id: the Ray submission id.
    :param ray_cluster_name: the cluster running it.
    :param dashboard_url: the cluster's dashboard address as KubeRay sees it.
    :param job_status: Ray's job status.
    :param job_deployment_status: KubeRay's deployment status.
    :param reason: KubeRay's reason.
    :param message: KubeRay's message.
    :param failed_attempts: attempts that failed so far.
    :param succeeded_attempts: attempts that succeeded.
    :param start_time: when the job started (RFC 3339).
    :param end_time: when the job ended (RFC 3339).
    """

    job_id: str = ""
    ray_cluster_name: str = ""
    dashboard_url: str = ""
    job_status: str = ""
    job_deployment_status: str = ""
    reason: str = ""
    message: str = ""
    failed_attempts: int = 0
    succeeded_attempts: int = 0
    start_time: str = ""
    end_time: str = ""


def job_info(obj: Mapping[str, Any] | None) -> RayJobInfo:
    """
    Extract the facts of a RayJob's status.

    :param obj: the RayJob as returned by the API.
    """
    status = status_of(obj)
    failed = status.get("failed")
    succeeded = status.get("succeeded")
    return RayJobInfo(
        job_id=text(status, "jobId"),
        ray_cluster_name=text(status, "rayClusterName"),
        dashboard_url=text(status, "dashboardURL"),
        job_status=text(status, "jobStatus"),
        job_deployment_status=text(status, "jobDeploymentStatus"),
        reason=text(status, "reason"),
        message=text(status, "message"),
        failed_attempts=failed if isinstance(failed, int) else 0,
        succeeded_attempts=succeeded if isinstance(succeeded, int) else 0,
        start_time=text(status, "startTime"),
        end_time=text(status, "endTime"),
    )
