"""Typed builder of RayJob bodies: a new cluster or an existing one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_kuberay.specs.body import complete_body
from airflow_provider_kuberay.specs.cluster import ClusterSpec
from airflow_provider_kuberay.specs.errors import SpecValidationError
from airflow_provider_kuberay.specs.merge import OverrideSource, deep_merge, load_overrides
from airflow_provider_kuberay.specs.runtime_env import runtime_env_yaml
from airflow_provider_kuberay.specs.validate_job import CLUSTER_SELECTOR_KEY, SUBMISSION_MODES


@dataclass(frozen=True)
class JobSpec:
    """
    A Ray job run by KubeRay.

    Exactly one of ``cluster`` (a new cluster, created for the job) and ``cluster_name`` (an
    existing RayCluster, selected with ``clusterSelector``) must be given.

    :param entrypoint: the command, e.g. ``python train.py --epochs 3``.
    :param cluster: a new cluster for this job.
    :param cluster_name: the name of an existing RayCluster in the job's namespace.
    :param runtime_env: Ray runtime environment (a mapping, or YAML text of one).
    :param submission_mode: ``K8sJobMode`` (default), ``HTTPMode``, ``InteractiveMode``, ``SidecarMode``.
    :param job_id: the Ray submission id (deterministic ids make retries adopt the same job).
    :param shutdown_after_job_finishes: delete the new cluster when the job ends (default: True
        with a new cluster, unset with an existing one).
    :param ttl_seconds_after_finished: delay before that deletion.
    :param active_deadline_seconds: fail the job after this many seconds.
    :param pre_running_deadline_seconds: fail the job if it has not started running by then.
    :param backoff_limit: retries of the whole RayJob (new cluster each time).
    :param entrypoint_num_cpus: CPUs reserved for the entrypoint.
    :param entrypoint_num_gpus: GPUs reserved for the entrypoint.
    :param entrypoint_resources: custom Ray resources reserved for the entrypoint.
    :param submitter_backoff_limit: retries of the submitter Kubernetes Job.
    :param submitter_pod_template: pod template of the submitter Job (K8sJobMode).
    :param metadata: Ray job metadata.
    :param suspend: create the job suspended (e.g. for Kueue).
    :param deletion_strategy: raw ``deletionStrategy`` (needs KubeRay's RayJobDeletionPolicy gate).
    :param overrides: raw dict / YAML text / file merged on top of the built RayJob spec.
    """

    entrypoint: str
    cluster: ClusterSpec | None = None
    cluster_name: str | None = None
    runtime_env: Mapping[str, Any] | str | None = None
    submission_mode: str = "K8sJobMode"
    job_id: str | None = None
    shutdown_after_job_finishes: bool | None = None
    ttl_seconds_after_finished: int | None = None
    active_deadline_seconds: int | None = None
    pre_running_deadline_seconds: int | None = None
    backoff_limit: int | None = None
    entrypoint_num_cpus: float | None = None
    entrypoint_num_gpus: float | None = None
    entrypoint_resources: Mapping[str, float | int] | None = None
    submitter_backoff_limit: int | None = None
    submitter_pod_template: Mapping[str, Any] | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    suspend: bool = False
    deletion_strategy: Mapping[str, Any] | None = None
    overrides: OverrideSource | None = None

    def to_dict(self, path: str = "spec") -> dict[str, Any]:
        """
        Return the RayJob spec dict (validated as part of the body by :func:`ray_job_body`).

        :param path: where the spec sits in the body.
        """
        if self.cluster is not None and self.cluster_name:
            raise SpecValidationError(
                f"{path}.clusterSelector", "both a new cluster and cluster_name are given", "exactly one"
            )
        if self.cluster is None and not self.cluster_name:
            raise SpecValidationError(
                f"{path}.rayClusterSpec", "neither a new cluster nor cluster_name is given", "exactly one"
            )
        if self.submission_mode not in SUBMISSION_MODES:
            raise SpecValidationError(
                f"{path}.submissionMode",
                f"unknown value {self.submission_mode!r}",
                ", ".join(SUBMISSION_MODES),
            )
        spec: dict[str, Any] = {"entrypoint": self.entrypoint, "submissionMode": self.submission_mode}
        if self.runtime_env is not None:
            spec["runtimeEnvYAML"] = runtime_env_yaml(self.runtime_env, f"{path}.runtimeEnvYAML")
        if self.job_id:
            spec["jobId"] = self.job_id
        if self.cluster is not None:
            spec["rayClusterSpec"] = self.cluster.to_dict(f"{path}.rayClusterSpec", owner="RayJob")
            shutdown = True if self.shutdown_after_job_finishes is None else self.shutdown_after_job_finishes
            spec["shutdownAfterJobFinishes"] = shutdown
        else:
            spec["clusterSelector"] = {CLUSTER_SELECTOR_KEY: self.cluster_name}
            if self.shutdown_after_job_finishes is not None:
                spec["shutdownAfterJobFinishes"] = self.shutdown_after_job_finishes
        optional = {
            "ttlSecondsAfterFinished": self.ttl_seconds_after_finished,
            "activeDeadlineSeconds": self.active_deadline_seconds,
            "preRunningDeadlineSeconds": self.pre_running_deadline_seconds,
            "backoffLimit": self.backoff_limit,
            "entrypointNumCpus": self.entrypoint_num_cpus,
            "entrypointNumGpus": self.entrypoint_num_gpus,
            "submitterPodTemplate": dict(self.submitter_pod_template) if self.submitter_pod_template else None,
            "deletionStrategy": dict(self.deletion_strategy) if self.deletion_strategy else None,
        }
        spec.update({key: value for key, value in optional.items() if value is not None})
        if self.entrypoint_resources:
            spec["entrypointResources"] = json.dumps(dict(self.entrypoint_resources), sort_keys=True)
        if self.submitter_backoff_limit is not None:
            spec["submitterConfig"] = {"backoffLimit": self.submitter_backoff_limit}
        if self.metadata:
            spec["metadata"] = dict(self.metadata)
        if self.suspend:
            spec["suspend"] = True
        return deep_merge(spec, load_overrides(self.overrides, f"{path}.overrides"))


def ray_job_body(
    name: str,
    job: JobSpec,
    *,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    overrides: OverrideSource | None = None,
) -> dict[str, Any]:
    """
    Build and validate a complete ``ray.io/v1`` RayJob body.

    :param name: the RayJob name (DNS-1035, at most 47 characters).
    :param job: the job spec.
    :param namespace: the namespace (omitted when None).
    :param labels: resource labels.
    :param annotations: resource annotations.
    :param overrides: raw dict / YAML text / YAML file merged on top of the whole body.
    :raises SpecValidationError: naming the first invalid field.
    """
    return complete_body(
        "RayJob",
        name,
        job.to_dict("spec"),
        namespace=namespace,
        labels=labels,
        annotations=annotations,
        overrides=overrides,
    )
