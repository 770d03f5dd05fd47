"""Typed builder of RayService bodies: Serve config, cluster, upgrade strategy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_kuberay.specs.body import complete_body
from airflow_provider_kuberay.specs.cluster import ClusterSpec
from airflow_provider_kuberay.specs.errors import SpecValidationError
from airflow_provider_kuberay.specs.merge import OverrideSource, deep_merge, load_overrides
from airflow_provider_kuberay.specs.runtime_env import dump_yaml
from airflow_provider_kuberay.specs.validate_service import UPGRADE_STRATEGIES, validate_serve_config


@dataclass(frozen=True)
class IncrementalUpgrade:
    """
    Options of the ``NewClusterWithIncrementalUpgrade`` strategy (traffic shifted through the
    Gateway API in steps).

    :param gateway_class_name: the GatewayClass, e.g. ``istio``.
    :param step_size_percent: traffic moved per step (0-100, at most ``max_surge_percent``).
    :param interval_seconds: seconds between steps (> 0).
    :param max_surge_percent: capacity the new cluster scales up to per step (0-100).
    """

    gateway_class_name: str
    step_size_percent: int
    interval_seconds: int
    max_surge_percent: int = 100

    def to_dict(self) -> dict[str, Any]:
        """Return the ``clusterUpgradeOptions`` dict."""
        return {
            "gatewayClassName": self.gateway_class_name,
            "stepSizePercent": self.step_size_percent,
            "intervalSeconds": self.interval_seconds,
            "maxSurgePercent": self.max_surge_percent,
        }


def serve_config_yaml(serve_config: Mapping[str, Any] | str, path: str = "spec.serveConfigV2") -> str:
    """
    Turn a Serve config (a mapping, or YAML text) into checked ``serveConfigV2`` text.

    :param serve_config: e.g. ``{"applications": [{"name": "app", "import_path": "m:app"}]}``.
    :param path: the field path named in errors.
    :raises SpecValidationError: if it does not parse or lists no applications.
    """
    if isinstance(serve_config, Mapping):
        text = dump_yaml(serve_config)
    elif isinstance(serve_config, str):
        text = serve_config
    else:
        raise SpecValidationError(path, f"is a {type(serve_config).__name__}", "a mapping or YAML text")
    validate_serve_config(text, path)
    return text


@dataclass(frozen=True)
class ServiceSpec:
    """
    A Ray Serve deployment managed by KubeRay.

    :param serve_config: the Serve config (``serveConfigV2``) as a mapping or YAML text.
    :param cluster: the cluster that runs it (autoscaling needed for incremental upgrades).
    :param upgrade_strategy: ``NewCluster`` (blue/green, KubeRay's default),
        ``NewClusterWithIncrementalUpgrade`` or ``None`` (in place); None leaves it unset.
    :param incremental_upgrade: options of ``NewClusterWithIncrementalUpgrade``.
    :param ray_cluster_deletion_delay_seconds: keep the old cluster this long after a switch.
    :param exclude_head_pod_from_serve_svc: do not route Serve traffic to the head pod.
    :param serve_service: a custom Serve Service (Kubernetes Service dict).
    :param overrides: raw dict / YAML text / file merged on top of the built RayService spec.
    """

    serve_config: Mapping[str, Any] | str
    cluster: ClusterSpec
    upgrade_strategy: str | None = None
    incremental_upgrade: IncrementalUpgrade | None = None
    ray_cluster_deletion_delay_seconds: int | None = None
    exclude_head_pod_from_serve_svc: bool = False
    serve_service: Mapping[str, Any] | None = None
    overrides: OverrideSource | None = None

    def to_dict(self, path: str = "spec") -> dict[str, Any]:
        """
        Return the RayService spec dict (validated as part of the body by :func:`ray_service_body`).

        :param path: where the spec sits in the body.
        """
        strategy = self.upgrade_strategy
        if self.incremental_upgrade is not None and strategy is None:
            strategy = "NewClusterWithIncrementalUpgrade"
        if strategy is not None and strategy not in UPGRADE_STRATEGIES:
            raise SpecValidationError(
                f"{path}.upgradeStrategy.type", f"unknown value {strategy!r}", ", ".join(UPGRADE_STRATEGIES)
            )
        if self.incremental_upgrade is not None and strategy != "NewClusterWithIncrementalUpgrade":
            raise SpecValidationError(
                f"{path}.upgradeStrategy.clusterUpgradeOptions",
                f"given with strategy {strategy!r}",
                "NewClusterWithIncrementalUpgrade",
            )
        spec: dict[str, Any] = {"serveConfigV2": serve_config_yaml(self.serve_config, f"{path}.serveConfigV2")}
        if strategy is not None:
            upgrade: dict[str, Any] = {"type": strategy}
            if self.incremental_upgrade is not None:
                upgrade["clusterUpgradeOptions"] = self.incremental_upgrade.to_dict()
            spec["upgradeStrategy"] = upgrade
        if self.ray_cluster_deletion_delay_seconds is not None:
            spec["rayClusterDeletionDelaySeconds"] = self.ray_cluster_deletion_delay_seconds
        if self.exclude_head_pod_from_serve_svc:
            spec["excludeHeadPodFromServeSvc"] = True
        if self.serve_service:
            spec["serveService"] = dict(self.serve_service)
        spec["rayClusterConfig"] = self.cluster.to_dict(f"{path}.rayClusterConfig", owner="RayService")
        return deep_merge(spec, load_overrides(self.overrides, f"{path}.overrides"))


def ray_service_body(
    name: str,
    service: ServiceSpec,
    *,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    overrides: OverrideSource | None = None,
) -> dict[str, Any]:
    """
    Build and validate a complete ``ray.io/v1`` RayService body.

    :param name: the RayService name (DNS-1035, at most 47 characters).
    :param service: the service spec.
    :param namespace: the namespace (omitted when None).
    :param labels: resource labels.
    :param annotations: resource annotations.
    :param overrides: raw dict / YAML text / YAML file merged on top of the whole body.
    :raises SpecValidationError: naming the first invalid field.
    """
    return complete_body(
        "RayService",
        name,
        service.to_dict("spec"),
        namespace=namespace,
        labels=labels,
        annotations=annotations,
        overrides=overrides,
    )
