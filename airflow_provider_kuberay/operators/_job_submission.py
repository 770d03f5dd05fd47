"""A validated Ray Jobs API submission, and the retry-safe way to submit it."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_kuberay.exceptions import DuplicateSubmissionError
from airflow_provider_kuberay.hooks.runtime_env import parse_runtime_env
from airflow_provider_kuberay.status.jobs_api import judge_job
from airflow_provider_kuberay.tasks import inputs
from airflow_provider_kuberay.tasks.clearing import CLEAR_KILL_WAIT
from airflow_provider_kuberay.tasks.identity import TASK_KEY_METADATA, TaskIdentity, check_submission_id
from airflow_provider_kuberay.tasks.results import ask_for_result

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook

TRY_METADATA_KEY = "airflow_try_number"
# Ray's job manager watches each job's supervisor actor once a second until it sees it gone. A job
# submitted again under the same id before that watch ended is taken for the old one: its status is
# overwritten with "Job supervisor actor died". A job that ended this long ago (a few of those seconds,
# with room for a busy head) has no watch left.
RESUBMIT_SETTLE = 5.0


def _settle_after_end(job: Mapping[str, Any], settle: float = RESUBMIT_SETTLE) -> None:
    """Wait until ``settle`` seconds passed since the job's end (by Ray's clock, never more than ``settle``)."""
    end_ms = job.get("end_time")
    if not end_ms:
        return
    time.sleep(min(settle, max(0.0, float(end_ms) / 1000 + settle - time.time())))


def _with_task(metadata: dict[str, str], identity: TaskIdentity) -> dict[str, str]:
    """The job's metadata plus the task instance that submits it (the try decides adoption on retry)."""
    return {
        **metadata,
        "airflow_dag_id": identity.dag_id,
        "airflow_task_id": identity.task_id,
        "airflow_run_id": identity.run_id,
        TRY_METADATA_KEY: str(identity.try_number),
        TASK_KEY_METADATA: identity.key,
    }


class SubmitParameters(Protocol):
    """The rendered parameters a submission is built from (those of ``KubeRaySubmitJobOperator``)."""

    entrypoint: str
    runtime_env: Mapping[str, Any] | str | None
    entrypoint_num_cpus: float | None
    entrypoint_num_gpus: float | None
    entrypoint_memory: int | None
    entrypoint_resources: Mapping[str, float] | None
    metadata: Mapping[str, str] | None
    submission_id: str | None
    reattach_on_clear: bool
    cancel_on_kill: bool


@dataclass(frozen=True)
class JobSubmission:
    """
    Everything sent to ``POST /api/jobs/``, checked before any call.

    :param submission_id: the job's id, stable across the task's tries.
    :param try_number: the Airflow try that submits, recorded in the job's metadata.
    :param owner_key: the key of the task instance that submits, recorded in the job's metadata
        (what a trigger checks before it stops the job).
    :param killed_by_clear: a user cleared the task into this try and the trigger of the try before
        stops that try's job (``cancel_on_kill``): a job of an earlier try still running is being stopped.
    """

    entrypoint: str
    submission_id: str
    try_number: int
    owner_key: str
    killed_by_clear: bool = False
    runtime_env: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_operator(
        cls, operator: SubmitParameters, context: Context, result_nonce: str | None = None
    ) -> JobSubmission:
        """
        Build from the operator's rendered fields and the task instance.

        :param result_nonce: ask the job for a result line carrying this nonce.
        """
        entrypoint = operator.entrypoint
        if not isinstance(entrypoint, str) or not entrypoint.strip():
            raise ValueError("entrypoint must be a non-empty shell command, e.g. 'python main.py'")
        identity = TaskIdentity.from_context(context, reattach_on_clear=operator.reattach_on_clear)
        submission_id = (
            check_submission_id(operator.submission_id) if operator.submission_id else identity.submission_id
        )
        metadata = _with_task(inputs.string_map(operator.metadata, "metadata") or {}, identity)
        options = {
            "entrypoint_num_cpus": operator.entrypoint_num_cpus,
            "entrypoint_num_gpus": operator.entrypoint_num_gpus,
            "entrypoint_memory": operator.entrypoint_memory,
            "entrypoint_resources": inputs.number_map(operator.entrypoint_resources, "entrypoint_resources"),
        }
        runtime_env = parse_runtime_env(operator.runtime_env)
        if result_nonce:
            runtime_env, metadata = ask_for_result(runtime_env, metadata, result_nonce)
        return cls(
            entrypoint=entrypoint,
            submission_id=submission_id,
            try_number=identity.try_number,
            owner_key=identity.key,
            killed_by_clear=identity.starts_a_clearing and operator.cancel_on_kill,
            runtime_env=runtime_env,
            metadata=metadata,
            options={k: v for k, v in options.items() if v is not None},
        )

    @classmethod
    def from_rayjob(cls, rayjob: Mapping[str, Any], identity: TaskIdentity) -> JobSubmission:
        """
        The submission of an InteractiveMode RayJob, from what its stored spec records (entrypoint,
        runtime env, metadata, entrypoint resources), under ``spec.jobId`` if set, else the task
        instance's submission id: the same id in every try, so a retry finds the job it submitted.
        """
        spec = rayjob.get("spec") or {}
        entrypoint = spec.get("entrypoint")
        if not isinstance(entrypoint, str) or not entrypoint.strip():
            raise ValueError("entrypoint must be a non-empty shell command, e.g. 'python main.py'")
        resources = spec.get("entrypointResources")
        options = {
            "entrypoint_num_cpus": spec.get("entrypointNumCpus"),
            "entrypoint_num_gpus": spec.get("entrypointNumGpus"),
            "entrypoint_resources": json.loads(resources) if resources else None,  # KubeRay keeps it as JSON text
        }
        return cls(
            entrypoint=entrypoint,
            submission_id=check_submission_id(spec.get("jobId") or identity.submission_id, "spec.jobId"),
            try_number=identity.try_number,
            runtime_env=parse_runtime_env(spec.get("runtimeEnvYAML"), "spec.runtimeEnvYAML"),
            metadata=_with_task(inputs.string_map(spec.get("metadata"), "spec.metadata") or {}, identity),
            options={k: v for k, v in options.items() if v is not None},
            owner_key=identity.key,
        )

    def _submit(self, hook: RayDashboardHook, runtime_env: Mapping[str, Any]) -> None:
        hook.submit_job(
            entrypoint=self.entrypoint,
            submission_id=self.submission_id,
            runtime_env=runtime_env or None,
            metadata=self.metadata,
            **self.options,
        )

    def _wait_for_the_clears_stop(self, hook: RayDashboardHook, existing: dict[str, Any]) -> dict[str, Any]:
        """
        The clear that started this try stops the earlier try's job (the trigger's ``on_kill``), which may
        land just after this try starts: give it a moment instead of adopting a job about to stop. Without a
        stop (Airflow before 3.3 has no trigger ``on_kill``) the job is adopted after the pause.
        """
        deadline = time.monotonic() + CLEAR_KILL_WAIT
        while time.monotonic() < deadline and not judge_job(existing).terminal:
            time.sleep(0.5)
            existing = hook.get_job_info(self.submission_id)
        return existing

    def submit_or_adopt(self, hook: RayDashboardHook, runtime_env: Mapping[str, Any]) -> str:
        """
        Submit the job, or adopt the one an earlier attempt of this task instance submitted;
        return what was done, for the task log.

        A job still running, or already succeeded, is followed as it is. A job that failed or was
        stopped in an *earlier try* is deleted and submitted again: that is what a retry is for.
        """
        try:
            self._submit(hook, runtime_env)
            return f"Submitted Ray job {self.submission_id}: {self.entrypoint}"
        except DuplicateSubmissionError:
            pass
        existing = hook.get_job_info(self.submission_id)
        submitted_by = int((existing.get("metadata") or {}).get(TRY_METADATA_KEY) or 0)
        if self.killed_by_clear and submitted_by < self.try_number and not judge_job(existing).terminal:
            existing = self._wait_for_the_clears_stop(hook, existing)
        verdict = judge_job(existing)
        if verdict.terminal and not verdict.succeeded and submitted_by < self.try_number:
            _settle_after_end(existing)
            hook.delete_job(self.submission_id)
            self._submit(hook, runtime_env)
            return (
                f"Ray job {self.submission_id} ended {verdict.status.value} in try {submitted_by}: "
                f"deleted it and submitted it again for try {self.try_number}"
            )
        return (
            f"Ray job {self.submission_id} exists already ({verdict.status.value}, submitted by try "
            f"{submitted_by or '?'}): following it instead of submitting it again"
        )
