"""Checks on a RayClusterSpec dict that KubeRay v1.7.0 only makes inside its controller.

An invalid RayCluster is accepted by the API server and then never reconciled (KubeRay only emits
an event), so these run before any API call. Every check names the field it rejects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_kuberay.specs.checks import (
    INT32_MAX,
    env_value,
    mapping,
    one_of,
    optional_bool,
    optional_int,
    optional_mapping,
    optional_str,
    sequence,
    string_map,
    version_tuple,
)
from airflow_provider_kuberay.specs.errors import SpecValidationError, child
from airflow_provider_kuberay.specs.names import is_label_key, is_label_value
from airflow_provider_kuberay.specs.quantities import is_whole, parse_quantity
from airflow_provider_kuberay.specs.resources import is_accelerator

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
UPSCALING_MODES = ("Default", "Aggressive", "Conservative")
AUTOSCALER_VERSIONS = ("v1", "v2")
CLUSTER_UPGRADE_TYPES = ("Recreate", "None")
RESTART_POLICIES = ("Always", "OnFailure", "Never")
# Ray resource flags that conflict with a group's `resources` field (KubeRay validateRayGroupResources).
_RAY_RESOURCE_PARAMS = ("num-cpus", "num-gpus", "memory", "resources")
_AUTOSCALER_V2_ENV = "RAY_enable_autoscaler_v2"
_NATIVE_RESOURCES = ("cpu", "memory", "ephemeral-storage")


def validate_cluster_spec(
    spec: object,
    path: str = "spec",
    *,
    owner: str = "RayCluster",
    annotations: Mapping[str, str] | None = None,
) -> None:
    """
    Validate a RayClusterSpec (the ``spec`` of a RayCluster, or the cluster of a RayJob/RayService).

    :param spec: the spec dict.
    :param path: its path in the body, e.g. ``spec.rayClusterSpec``.
    :param owner: the kind that owns the spec: ``RayCluster``, ``RayJob`` or ``RayService``.
    :param annotations: the owner's annotations (``ray.io/ft-enabled`` turns on GCS fault tolerance).
    :raises SpecValidationError: naming the first invalid field.
    """
    spec = mapping(spec, path)
    autoscaling = bool(optional_bool(spec, "enableInTreeAutoscaling", path))
    autoscaler = optional_mapping(spec, "autoscalerOptions", path)
    ray_version = optional_str(spec, "rayVersion", path)
    if ray_version is not None and version_tuple(ray_version) is None:
        raise SpecValidationError(child(path, "rayVersion"), f"{ray_version!r} is not a version", "e.g. 2.52.0")

    head_path = child(path, "headGroupSpec")
    if spec.get("headGroupSpec") is None:
        raise SpecValidationError(head_path, "is missing", "a head group with a pod template")
    head = mapping(spec["headGroupSpec"], head_path)
    head_containers = _validate_group(head, head_path, "head")
    one_of(head, "serviceType", head_path, SERVICE_TYPES)
    head_env = head_containers[0].get("env")
    head_pod = _pod_spec(head, head_path)

    v2 = autoscaling and (autoscaler.get("version") == "v2" or env_value(head_env, _AUTOSCALER_V2_ENV) in ("1", "true"))
    _validate_autoscaler(spec, autoscaler, autoscaling, head_env, path)
    if v2:
        _require_restart_never(head_pod, child(head_path, "template.spec.restartPolicy"))

    workers_path = child(path, "workerGroupSpecs")
    workers = sequence(spec.get("workerGroupSpecs") or [], workers_path)
    seen: dict[str, int] = {}
    for index, raw_group in enumerate(workers):
        group_path = child(workers_path, index)
        group = mapping(raw_group, group_path)
        _validate_worker_group(group, group_path, autoscaling=autoscaling, v2=v2, ray_version=ray_version)
        name = group["groupName"]
        if name in seen:
            raise SpecValidationError(
                child(group_path, "groupName"),
                f"duplicate worker group name {name!r} (also workerGroupSpecs[{seen[name]}])",
                "a unique groupName per worker group",
            )
        seen[name] = index

    _validate_auth(spec, path, ray_version, owner)
    _validate_upgrade_strategy(spec, path, owner)
    ft_annotation = str((annotations or {}).get("ray.io/ft-enabled", "")).lower() == "true"
    ft_enabled = ft_annotation or spec.get("gcsFaultToleranceOptions") is not None
    if env_value(head_env, "RAY_REDIS_ADDRESS") is not None and not ft_enabled:
        raise SpecValidationError(
            child(head_path, "template.spec.containers[0].env"),
            "RAY_REDIS_ADDRESS enables GCS fault tolerance implicitly",
            "set spec.gcsFaultToleranceOptions.redisAddress instead",
        )


def _pod_spec(group: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    template_path = child(path, "template")
    if group.get("template") is None:
        raise SpecValidationError(template_path, "is missing", "a pod template with at least one container")
    template = mapping(group["template"], template_path)
    return optional_mapping(template, "spec", template_path)


def _validate_group(group: Mapping[str, Any], path: str, role: str) -> list[Mapping[str, Any]]:
    """Checks shared by the head and worker groups; returns the validated containers."""
    pod = _pod_spec(group, path)
    pod_path = child(path, "template.spec")
    containers_path = child(pod_path, "containers")
    containers = sequence(pod.get("containers") or [], containers_path)
    if not containers:
        raise SpecValidationError(
            containers_path, f"the {role} pod has no container", "at least one (the Ray container first)"
        )
    checked = []
    for index, raw in enumerate(containers):
        container_path = child(containers_path, index)
        container = mapping(raw, container_path)
        if not isinstance(container.get("name"), str) or not container["name"]:
            raise SpecValidationError(child(container_path, "name"), "is missing", "a container name")
        if index == 0 and (not isinstance(container.get("image"), str) or not container["image"].strip()):
            raise SpecValidationError(
                child(container_path, "image"), "the Ray container has no image", "e.g. rayproject/ray:2.52.0"
            )
        validate_container_resources(container.get("resources"), child(container_path, "resources"))
        checked.append(container)
    for index, raw in enumerate(pod.get("initContainers") or []):
        init_path = child(child(pod_path, "initContainers"), index)
        validate_container_resources(mapping(raw, init_path).get("resources"), child(init_path, "resources"))
    one_of(pod, "restartPolicy", pod_path, RESTART_POLICIES)

    params = string_map(group, "rayStartParams", path)
    if "labels" in params:
        raise SpecValidationError(
            child(child(path, "rayStartParams"), "labels"),
            "is not supported",
            f"the {role} group's top-level labels field",
        )
    group_resources = string_map(group, "resources", path)
    if group_resources and any(params.get(key) for key in _RAY_RESOURCE_PARAMS):
        raise SpecValidationError(
            child(path, "resources"),
            "Ray resources are set both here and in rayStartParams (num-cpus/num-gpus/memory/resources)",
            "only one of the two",
        )
    for key, value in string_map(group, "labels", path).items():
        if not is_label_key(key) or not is_label_value(value):
            raise SpecValidationError(
                child(child(path, "labels"), key), f"invalid label {key}={value!r}", "Kubernetes label syntax"
            )
    return checked


def validate_container_resources(resources: object, path: str) -> None:
    """
    Check a container's requests/limits: quantities parse, are >= 0, limits >= requests, and
    accelerators (and other extended resources) are whole numbers.

    :param resources: the container's ``resources`` dict (may be None).
    :param path: its path.
    """
    if resources is None:
        return
    resources = mapping(resources, path)
    parsed: dict[str, dict[str, Any]] = {}
    for part in ("requests", "limits"):
        part_path = child(path, part)
        parsed[part] = {}
        for key, value in optional_mapping(resources, part, path).items():
            where = child(part_path, key)
            amount = parse_quantity(value, where)
            if amount < 0:
                raise SpecValidationError(where, f"{value!r} is negative", "a quantity >= 0")
            extended = key not in _NATIVE_RESOURCES and not key.startswith("hugepages-")
            if extended and not is_whole(amount):
                what = "accelerators" if is_accelerator(key) else "extended resources"
                raise SpecValidationError(where, f"{value!r} is fractional", f"whole numbers for {what}")
            parsed[part][key] = amount
    for key, request in parsed["requests"].items():
        limit = parsed["limits"].get(key)
        if limit is not None and limit < request:
            raise SpecValidationError(
                child(child(path, "limits"), key),
                f"limit {resources['limits'][key]!r} is below request {resources['requests'][key]!r}",
                "a limit >= the request",
            )


def _require_restart_never(pod: Mapping[str, Any], path: str) -> None:
    policy = pod.get("restartPolicy")
    if policy not in (None, "", "Never"):
        raise SpecValidationError(path, f"{policy!r} with autoscaler v2", "Never or unset")


def _validate_worker_group(
    group: Mapping[str, Any], path: str, *, autoscaling: bool, v2: bool, ray_version: str | None
) -> None:
    name = group.get("groupName")
    if not isinstance(name, str) or not name:
        raise SpecValidationError(child(path, "groupName"), "is missing", "a non-empty group name")
    if not is_label_value(name):
        raise SpecValidationError(
            child(path, "groupName"),
            f"{name!r} is not usable as a label value",
            "at most 63 of [A-Za-z0-9._-], alphanumeric at both ends",
        )
    _validate_group(group, path, f"worker group {name!r}")
    # The API server defaults missing bounds (0 and int32 max) before KubeRay sees them.
    replicas = optional_int(group, "replicas", path, minimum=0)
    lo = optional_int(group, "minReplicas", path, minimum=0) or 0
    hi = optional_int(group, "maxReplicas", path, minimum=0)
    hi = INT32_MAX if hi is None else hi
    optional_int(group, "numOfHosts", path, minimum=1)
    if lo > hi:
        raise SpecValidationError(child(path, "minReplicas"), f"{lo} is greater than maxReplicas {hi}", f"at most {hi}")
    if replicas is not None and not lo <= replicas <= hi:
        raise SpecValidationError(
            child(path, "replicas"),
            f"{replicas} is outside [minReplicas, maxReplicas]",
            f"between {lo} and {hi}",
        )
    idle = optional_int(group, "idleTimeoutSeconds", path, minimum=0)
    if idle is not None and not v2:
        raise SpecValidationError(
            child(path, "idleTimeoutSeconds"),
            "is set but autoscaler v2 is not enabled",
            "spec.autoscalerOptions.version: v2",
        )
    priority = optional_int(group, "priority", path)
    if priority:
        version = version_tuple(ray_version or "")
        if not v2 or version is None or version < (2, 56):
            raise SpecValidationError(child(path, "priority"), "needs autoscaler v2 and Ray >= 2.56.0", "0 or unset")
    if optional_bool(group, "suspend", path) and autoscaling:
        raise SpecValidationError(
            child(path, "suspend"), "a worker group cannot be suspended with autoscaling on", "false"
        )
    if v2:
        _require_restart_never(_pod_spec(group, path), child(path, "template.spec.restartPolicy"))


def _validate_autoscaler(
    spec: Mapping[str, Any], options: Mapping[str, Any], autoscaling: bool, head_env: object, path: str
) -> None:
    options_path = child(path, "autoscalerOptions")
    one_of(options, "upscalingMode", options_path, UPSCALING_MODES)
    version = one_of(options, "version", options_path, AUTOSCALER_VERSIONS)
    optional_int(options, "idleTimeoutSeconds", options_path, minimum=0)
    optional_str(options, "image", options_path)
    validate_container_resources(options.get("resources"), child(options_path, "resources"))
    if env_value(options.get("env"), "KUBERAY_GEN_AUTOSCALER_START_CMD") is not None:
        raise SpecValidationError(
            child(options_path, "env"),
            "KUBERAY_GEN_AUTOSCALER_START_CMD is managed by KubeRay",
            "other variables",
        )
    v2_env = env_value(head_env, _AUTOSCALER_V2_ENV)
    if not autoscaling and v2_env in ("1", "true"):
        raise SpecValidationError(
            child(path, "enableInTreeAutoscaling"), f"{_AUTOSCALER_V2_ENV}={v2_env} needs autoscaling", "true"
        )
    if autoscaling and version is not None and v2_env is not None:
        raise SpecValidationError(
            child(options_path, "version"),
            f"set together with the head env var {_AUTOSCALER_V2_ENV}",
            "only one of the two",
        )


def _validate_auth(spec: Mapping[str, Any], path: str, ray_version: str | None, owner: str) -> None:
    auth_path = child(path, "authOptions")
    auth = optional_mapping(spec, "authOptions", path)
    mode = one_of(auth, "mode", auth_path, ("disabled", "token"))
    k8s_auth = optional_bool(auth, "enableK8sTokenAuth", auth_path)
    if mode == "token":
        version = version_tuple(ray_version or "")
        if version is None or version < (2, 52):
            raise SpecValidationError(
                child(path, "rayVersion"), f"{ray_version!r} with token auth", "Ray 2.52.0 or later"
            )
        if k8s_auth and version < (2, 55):
            raise SpecValidationError(
                child(path, "rayVersion"),
                f"{ray_version!r} with Kubernetes token auth",
                "Ray 2.55.0 or later",
            )
    if k8s_auth and mode != "token":
        raise SpecValidationError(child(auth_path, "enableK8sTokenAuth"), "needs authOptions.mode: token", "false")
    if k8s_auth and auth.get("secretName"):
        # KubeRay refuses both: with Kubernetes credentials as tokens there is no token Secret.
        raise SpecValidationError(child(auth_path, "secretName"), "set with enableK8sTokenAuth", "unset")
    if k8s_auth and owner != "RayCluster":
        raise SpecValidationError(child(auth_path, "enableK8sTokenAuth"), f"is not supported for a {owner}", "false")


def _validate_upgrade_strategy(spec: Mapping[str, Any], path: str, owner: str) -> None:
    strategy = optional_mapping(spec, "upgradeStrategy", path)
    kind = one_of(strategy, "type", child(path, "upgradeStrategy"), CLUSTER_UPGRADE_TYPES)
    if kind is not None and owner != "RayCluster":
        raise SpecValidationError(child(path, "upgradeStrategy"), f"cannot be set on the cluster of a {owner}", "unset")
