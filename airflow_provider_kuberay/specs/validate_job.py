"""Checks on a RayJobSpec dict that KubeRay v1.7.0 makes in its controller (ValidateRayJobSpec)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_provider_kuberay.specs.checks import (
    mapping,
    one_of,
    optional_bool,
    optional_int,
    optional_mapping,
    optional_str,
    sequence,
    string_map,
)
from airflow_provider_kuberay.specs.errors import SpecValidationError, child
from airflow_provider_kuberay.specs.runtime_env import parse_yaml_mapping
from airflow_provider_kuberay.specs.validate_cluster import validate_cluster_spec

SUBMISSION_MODES = ("K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode")
CLUSTER_SELECTOR_KEY = "ray.io/cluster"
DELETION_POLICIES = ("DeleteCluster", "DeleteWorkers", "DeleteSelf", "DeleteNone")


def validate_job_spec(spec: object, path: str = "spec", annotations: Mapping[str, str] | None = None) -> None:
    """
    Validate a RayJob spec.

    :param spec: the spec dict.
    :param path: its path in the body.
    :param annotations: the RayJob's annotations (some cluster rules read them).
    :raises SpecValidationError: naming the first invalid field.
    """
    spec = mapping(spec, path)
    mode = one_of(spec, "submissionMode", path, SUBMISSION_MODES) or "K8sJobMode"
    entrypoint = optional_str(spec, "entrypoint", path)
    # InteractiveMode waits for the user's submission; a custom submitter pod brings its own command.
    own_command = mode == "InteractiveMode" or spec.get("submitterPodTemplate") is not None
    if not own_command and not (entrypoint or "").strip():
        raise SpecValidationError(
            child(path, "entrypoint"), "is empty", "the command that starts the job, e.g. python main.py"
        )

    cluster_spec = spec.get("rayClusterSpec")
    selector = string_map(spec, "clusterSelector", path)
    selector_path = child(path, "clusterSelector")
    if cluster_spec is not None and selector:
        raise SpecValidationError(
            selector_path,
            "set together with spec.rayClusterSpec",
            "exactly one: a new cluster or an existing one",
        )
    if cluster_spec is None and not selector:
        raise SpecValidationError(
            child(path, "rayClusterSpec"),
            "neither a new cluster nor spec.clusterSelector is set",
            "exactly one: rayClusterSpec or clusterSelector {'ray.io/cluster': NAME}",
        )

    shutdown = bool(optional_bool(spec, "shutdownAfterJobFinishes", path))
    suspend = bool(optional_bool(spec, "suspend", path))
    ttl = optional_int(spec, "ttlSecondsAfterFinished", path, minimum=0)
    optional_int(spec, "activeDeadlineSeconds", path, minimum=1)
    optional_int(spec, "preRunningDeadlineSeconds", path, minimum=1)
    backoff = optional_int(spec, "backoffLimit", path, minimum=0)
    if suspend and not shutdown:
        raise SpecValidationError(child(path, "suspend"), "needs shutdownAfterJobFinishes: true", "false")
    if ttl and not shutdown:
        raise SpecValidationError(
            child(path, "ttlSecondsAfterFinished"),
            f"{ttl} without shutdownAfterJobFinishes",
            "0, or set shutdownAfterJobFinishes: true",
        )

    if selector:
        if not selector.get(CLUSTER_SELECTOR_KEY):
            raise SpecValidationError(
                child(selector_path, CLUSTER_SELECTOR_KEY),
                "is missing or empty",
                "the name of an existing RayCluster",
            )
        if mode == "SidecarMode":
            raise SpecValidationError(
                child(path, "submissionMode"),
                "SidecarMode with an existing cluster",
                "K8sJobMode, HTTPMode or InteractiveMode",
            )
        if backoff:
            raise SpecValidationError(child(path, "backoffLimit"), f"{backoff} with an existing cluster", "0 or unset")
        if suspend:
            raise SpecValidationError(child(path, "suspend"), "an existing cluster's job cannot be suspended", "false")
    if mode == "InteractiveMode" and backoff:
        raise SpecValidationError(child(path, "backoffLimit"), f"{backoff} in InteractiveMode", "0 or unset")
    if mode == "SidecarMode":
        for key in ("submitterPodTemplate", "submitterConfig"):
            if spec.get(key) is not None:
                raise SpecValidationError(child(path, key), "is not supported in SidecarMode", "unset")
    submitter = optional_mapping(spec, "submitterConfig", path)
    optional_int(submitter, "backoffLimit", child(path, "submitterConfig"), minimum=0)
    if spec.get("submitterPodTemplate") is not None:
        mapping(spec["submitterPodTemplate"], child(path, "submitterPodTemplate"))

    if spec.get("runtimeEnvYAML") is not None:
        parse_yaml_mapping(spec["runtimeEnvYAML"], child(path, "runtimeEnvYAML"), "a runtime environment")
    _validate_entrypoint_resources(spec, path)
    string_map(spec, "metadata", path)
    optional_str(spec, "jobId", path)
    _validate_deletion_strategy(spec, path, shutdown=shutdown, existing_cluster=bool(selector))

    if cluster_spec is not None:
        cluster_path = child(path, "rayClusterSpec")
        validate_cluster_spec(cluster_spec, cluster_path, owner="RayJob", annotations=annotations)
        if mode == "SidecarMode":
            head_pod = mapping(cluster_spec, cluster_path)["headGroupSpec"]["template"].get("spec") or {}
            if head_pod.get("restartPolicy") not in (None, "", "Never"):
                raise SpecValidationError(
                    child(cluster_path, "headGroupSpec.template.spec.restartPolicy"),
                    "must not restart in SidecarMode",
                    "Never or unset",
                )


def _validate_entrypoint_resources(spec: Mapping[str, Any], path: str) -> None:
    for key in ("entrypointNumCpus", "entrypointNumGpus"):
        value = spec.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise SpecValidationError(child(path, key), f"{value!r}", "a number >= 0")
    raw = optional_str(spec, "entrypointResources", path)
    if raw is None:
        return
    where = child(path, "entrypointResources")
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as err:
        raise SpecValidationError(where, f"is not JSON: {err}", 'a JSON object such as {"custom": 1}') from err
    if not isinstance(parsed, dict) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in parsed.values()
    ):
        raise SpecValidationError(where, f"{raw!r}", "a JSON object of resource name to a number >= 0")


def _validate_deletion_strategy(spec: Mapping[str, Any], path: str, *, shutdown: bool, existing_cluster: bool) -> None:
    strategy_path = child(path, "deletionStrategy")
    strategy = optional_mapping(spec, "deletionStrategy", path)
    if not strategy:
        return
    rules = sequence(strategy.get("deletionRules") or [], child(strategy_path, "deletionRules"))
    legacy = [key for key in ("onSuccess", "onFailure") if strategy.get(key) is not None]
    if rules and legacy:
        raise SpecValidationError(strategy_path, "deletionRules and onSuccess/onFailure are both set", "only one style")
    if rules and shutdown:
        raise SpecValidationError(
            child(strategy_path, "deletionRules"),
            "set with shutdownAfterJobFinishes: true",
            "only one of the two",
        )
    if not rules and len(legacy) != 2:
        raise SpecValidationError(
            strategy_path, "needs both onSuccess and onFailure, or deletionRules", "one complete style"
        )
    policies: list[tuple[str, object]] = []
    for index, raw in enumerate(rules):
        rule_path = child(child(strategy_path, "deletionRules"), index)
        rule = mapping(raw, rule_path)
        policies.append((child(rule_path, "policy"), rule.get("policy")))
        condition = optional_mapping(rule, "condition", rule_path)
        condition_path = child(rule_path, "condition")
        if ("jobStatus" in condition) == ("jobDeploymentStatus" in condition):
            raise SpecValidationError(
                condition_path, "needs exactly one of jobStatus and jobDeploymentStatus", "one of them"
            )
        one_of(condition, "jobStatus", condition_path, ("SUCCEEDED", "FAILED"))
        one_of(condition, "jobDeploymentStatus", condition_path, ("Failed",))
        optional_int(condition, "ttlSeconds", condition_path, minimum=0)
    for key in legacy:
        policies.append(
            (
                child(child(strategy_path, key), "policy"),
                optional_mapping(strategy, key, strategy_path).get("policy"),
            )
        )
    for where, policy in policies:
        if policy not in DELETION_POLICIES:
            raise SpecValidationError(where, f"unknown policy {policy!r}", ", ".join(DELETION_POLICIES))
        if existing_cluster and policy in ("DeleteCluster", "DeleteWorkers"):
            raise SpecValidationError(where, f"{policy} with an existing cluster", "DeleteSelf or DeleteNone")
