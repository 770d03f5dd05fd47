"""Checks on a RayServiceSpec dict (KubeRay v1.7.0 ValidateRayServiceSpec) and its Serve config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_kuberay.specs.checks import mapping, one_of, optional_int, optional_mapping, sequence
from airflow_provider_kuberay.specs.errors import SpecValidationError, child
from airflow_provider_kuberay.specs.runtime_env import parse_yaml_mapping
from airflow_provider_kuberay.specs.validate_cluster import validate_cluster_spec

UPGRADE_STRATEGIES = ("NewCluster", "NewClusterWithIncrementalUpgrade", "None")


def validate_serve_config(config: object, path: str = "spec.serveConfigV2") -> dict[str, Any]:
    """
    Parse and check a Ray Serve config (``serveConfigV2`` YAML): it must list applications, each
    with an ``import_path``, with unique names and route prefixes.

    :param config: the YAML text.
    :param path: its field path.
    :return: the parsed config.
    """
    parsed = parse_yaml_mapping(config, path, "a Ray Serve config")
    apps_path = child(path, "applications")
    applications = sequence(parsed.get("applications") or [], apps_path)
    if not applications:
        raise SpecValidationError(
            apps_path, "the Serve config has no applications", "a list of applications with import_path"
        )
    names: set[str] = set()
    prefixes: set[str] = set()
    for index, raw in enumerate(applications):
        app_path = child(apps_path, index)
        app = mapping(raw, app_path)
        if not isinstance(app.get("import_path"), str) or not app["import_path"].strip():
            raise SpecValidationError(child(app_path, "import_path"), "is missing", "module.path:app_or_builder")
        name = app.get("name", "default")
        if len(applications) > 1 and "name" not in app:
            raise SpecValidationError(child(app_path, "name"), "is missing with several applications", "a unique name")
        if name in names:
            raise SpecValidationError(child(app_path, "name"), f"duplicate application name {name!r}", "unique names")
        names.add(name)
        prefix = app.get("route_prefix")
        if isinstance(prefix, str):
            if prefix in prefixes:
                raise SpecValidationError(
                    child(app_path, "route_prefix"), f"duplicate route prefix {prefix!r}", "unique prefixes"
                )
            prefixes.add(prefix)
    return parsed


def validate_service_spec(spec: object, path: str = "spec", annotations: Mapping[str, str] | None = None) -> None:
    """
    Validate a RayService spec.

    :param spec: the spec dict.
    :param path: its path in the body.
    :param annotations: the RayService's annotations (some cluster rules read them).
    :raises SpecValidationError: naming the first invalid field.
    """
    spec = mapping(spec, path)
    if spec.get("serveConfigV2") is None:
        raise SpecValidationError(child(path, "serveConfigV2"), "is missing", "a Ray Serve config with applications")
    validate_serve_config(spec["serveConfigV2"], child(path, "serveConfigV2"))
    cluster_path = child(path, "rayClusterConfig")
    if spec.get("rayClusterConfig") is None:
        raise SpecValidationError(cluster_path, "is missing", "a RayCluster spec")
    validate_cluster_spec(spec["rayClusterConfig"], cluster_path, owner="RayService", annotations=annotations)
    head = mapping(spec["rayClusterConfig"], cluster_path)["headGroupSpec"]
    head_service = optional_mapping(head, "headService", child(cluster_path, "headGroupSpec"))
    if optional_mapping(head_service, "metadata", "").get("name"):
        raise SpecValidationError(
            child(cluster_path, "headGroupSpec.headService.metadata.name"), "is set", "unset for a RayService"
        )
    optional_int(spec, "rayClusterDeletionDelaySeconds", path, minimum=0)
    optional_int(spec, "serviceUnhealthySecondThreshold", path, minimum=0)
    optional_int(spec, "deploymentUnhealthySecondThreshold", path, minimum=0)
    _validate_upgrade(spec, path)


def _validate_upgrade(spec: Mapping[str, Any], path: str) -> None:
    strategy_path = child(path, "upgradeStrategy")
    strategy = optional_mapping(spec, "upgradeStrategy", path)
    kind = one_of(strategy, "type", strategy_path, UPGRADE_STRATEGIES)
    if kind != "NewClusterWithIncrementalUpgrade":
        return
    cluster = spec["rayClusterConfig"]
    if not cluster.get("enableInTreeAutoscaling"):
        raise SpecValidationError(
            child(path, "rayClusterConfig.enableInTreeAutoscaling"),
            "incremental upgrade needs the Ray autoscaler",
            "true",
        )
    options_path = child(strategy_path, "clusterUpgradeOptions")
    if strategy.get("clusterUpgradeOptions") is None:
        raise SpecValidationError(options_path, "is missing", "gatewayClassName, stepSizePercent, intervalSeconds")
    options = mapping(strategy["clusterUpgradeOptions"], options_path)
    surge = optional_int(options, "maxSurgePercent", options_path, minimum=0, maximum=100)
    step = optional_int(options, "stepSizePercent", options_path, minimum=0, maximum=100)
    if step is None:
        raise SpecValidationError(child(options_path, "stepSizePercent"), "is missing", "a percentage 0-100")
    if step > (100 if surge is None else surge):
        raise SpecValidationError(
            child(options_path, "stepSizePercent"),
            f"{step} exceeds maxSurgePercent",
            "at most maxSurgePercent",
        )
    interval = optional_int(options, "intervalSeconds", options_path, minimum=1)
    if interval is None:
        raise SpecValidationError(child(options_path, "intervalSeconds"), "is missing", "seconds > 0")
    gateway = options.get("gatewayClassName")
    if not isinstance(gateway, str) or not gateway:
        raise SpecValidationError(
            child(options_path, "gatewayClassName"), "is missing", "the Gateway API class, e.g. istio"
        )
