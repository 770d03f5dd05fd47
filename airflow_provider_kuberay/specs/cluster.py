"""Typed builders of RayCluster specs and bodies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_kuberay.specs.body import complete_body
from airflow_provider_kuberay.specs.errors import SpecValidationError, child
from airflow_provider_kuberay.specs.merge import OverrideSource, deep_merge, load_overrides
from airflow_provider_kuberay.specs.names import is_dns1123_label
from airflow_provider_kuberay.specs.pod import PodOptions, pod_template
from airflow_provider_kuberay.specs.resources import Resources
from airflow_provider_kuberay.specs.validate_cluster import validate_cluster_spec

HEAD_CONTAINER = "ray-head"
WORKER_CONTAINER = "ray-worker"
ParamValue = str | int | float | bool


def _params(values: Mapping[str, ParamValue]) -> dict[str, str]:
    # rayStartParams is map[string]string in the CRD; booleans as Ray's CLI spells them.
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in values.items()}


@dataclass(frozen=True)
class HeadGroup:
    """
    The head group of a Ray cluster.

    :param image: Ray image; defaults to the cluster's image.
    :param resources: CPU/memory/accelerators of the head container.
    :param ray_start_params: extra ``ray start`` flags; ``dashboard-host: 0.0.0.0`` is always set
        unless given here.
    :param ray_resources: custom Ray resources announced by the head.
    :param service_type: the head service type (ClusterIP by default; the dashboard is reached
        through the cluster, never a LoadBalancer unless asked).
    :param pod: pod settings (env, volumes, node selector, tolerations, service account, ...).
    :param enable_ingress: ask KubeRay for an Ingress to the head.
    """

    image: str | None = None
    resources: Resources = field(default_factory=Resources)
    ray_start_params: Mapping[str, ParamValue] = field(default_factory=dict)
    ray_resources: Mapping[str, float | int] = field(default_factory=dict)
    service_type: str = "ClusterIP"
    pod: PodOptions = field(default_factory=PodOptions)
    enable_ingress: bool = False

    def to_dict(self, default_image: str | None, path: str) -> dict[str, Any]:
        """
        Return the ``headGroupSpec`` dict.

        :param default_image: the cluster image, used when ``image`` is None.
        :param path: the path of headGroupSpec in the body (for errors).
        """
        res = self.resources.to_k8s(child(path, "template.spec.containers[0].resources"))
        params = {"dashboard-host": "0.0.0.0", **self.resources.ray_start_params(self.ray_resources)}
        params.update(_params(self.ray_start_params))
        spec: dict[str, Any] = {
            "serviceType": self.service_type,
            "rayStartParams": params,
            "template": pod_template(
                container_name=HEAD_CONTAINER,
                image=self.image or default_image,
                resources=res,
                options=self.pod,
                head=True,
            ),
        }
        if self.enable_ingress:
            spec["enableIngress"] = True
        return spec


@dataclass(frozen=True)
class WorkerGroup:
    """
    One worker group; a cluster may mix CPU groups and GPU/TPU groups.

    Replica defaults: nothing set gives one fixed worker; only ``replicas`` gives a fixed-size
    group; ``min_replicas``/``max_replicas`` give autoscaling bounds and ``replicas`` starts at the
    minimum.

    :param group_name: unique DNS-1123 label, e.g. ``gpu-a100``.
    :param replicas: initial number of workers.
    :param min_replicas: autoscaling lower bound.
    :param max_replicas: autoscaling upper bound.
    :param num_of_hosts: hosts per replica (multi-host TPU slices).
    :param image: Ray image; defaults to the cluster's image (GPU groups often need a ``-gpu`` tag).
    :param resources: CPU/memory/accelerators per worker, e.g.
        ``Resources(cpu=8, memory="32Gi", accelerators={"nvidia.com/gpu": 1})``.
    :param ray_start_params: extra ``ray start`` flags.
    :param ray_resources: custom Ray resources of these workers.
    :param idle_timeout_seconds: per-group idle timeout (autoscaler v2 only).
    :param pod: pod settings (node selector, tolerations...).
    """

    group_name: str
    replicas: int | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    num_of_hosts: int = 1
    image: str | None = None
    resources: Resources = field(default_factory=Resources)
    ray_start_params: Mapping[str, ParamValue] = field(default_factory=dict)
    ray_resources: Mapping[str, float | int] = field(default_factory=dict)
    idle_timeout_seconds: int | None = None
    pod: PodOptions = field(default_factory=PodOptions)

    def replica_counts(self) -> tuple[int, int, int]:
        """Return (replicas, minReplicas, maxReplicas) after applying the defaults."""
        replicas, low, high = self.replicas, self.min_replicas, self.max_replicas
        if low is None:
            low = replicas if replicas is not None else (0 if high is not None else 1)
        if replicas is None:
            # Start at the minimum; a bad minimum is reported on its own field, not on replicas.
            replicas = low if isinstance(low, int) and low >= 0 else 0
        if high is None:
            high = max(replicas, low)
        return replicas, low, high

    def to_dict(self, default_image: str | None, path: str) -> dict[str, Any]:
        """
        Return the ``workerGroupSpecs`` item.

        :param default_image: the cluster image, used when ``image`` is None.
        :param path: the path of this item in the body (for errors).
        """
        if not isinstance(self.group_name, str) or not is_dns1123_label(self.group_name):
            raise SpecValidationError(
                child(path, "groupName"),
                f"{self.group_name!r} is not a DNS-1123 label",
                "lowercase letters, digits, '-'",
            )
        res = self.resources.to_k8s(child(path, "template.spec.containers[0].resources"))
        params = self.resources.ray_start_params(self.ray_resources)
        params.update(_params(self.ray_start_params))
        replicas, low, high = self.replica_counts()
        spec: dict[str, Any] = {
            "groupName": self.group_name,
            "replicas": replicas,
            "minReplicas": low,
            "maxReplicas": high,
        }
        if self.num_of_hosts != 1:
            spec["numOfHosts"] = self.num_of_hosts
        if self.idle_timeout_seconds is not None:
            spec["idleTimeoutSeconds"] = self.idle_timeout_seconds
        spec["rayStartParams"] = params
        spec["template"] = pod_template(
            container_name=WORKER_CONTAINER,
            image=self.image or default_image,
            resources=res,
            options=self.pod,
            head=False,
        )
        return spec


@dataclass(frozen=True)
class Autoscaling:
    """
    In-tree autoscaling (``enableInTreeAutoscaling`` and ``autoscalerOptions``).

    :param version: ``v1`` or ``v2`` (None: KubeRay's default).
    :param upscaling_mode: ``Default``, ``Aggressive`` or ``Conservative``.
    :param idle_timeout_seconds: seconds before an idle worker is removed.
    :param image: autoscaler image (default: the Ray image).
    :param resources: autoscaler container resources.
    :param env: autoscaler environment.
    :param image_pull_policy: autoscaler image pull policy.
    """

    version: str | None = None
    upscaling_mode: str | None = None
    idle_timeout_seconds: int | None = None
    image: str | None = None
    resources: Resources | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    image_pull_policy: str | None = None

    def to_dict(self, path: str) -> dict[str, Any]:
        """
        Return the ``autoscalerOptions`` dict.

        :param path: the path of autoscalerOptions in the body (for errors).
        """
        options: dict[str, Any] = {}
        if self.version is not None:
            options["version"] = self.version
        if self.upscaling_mode is not None:
            options["upscalingMode"] = self.upscaling_mode
        if self.idle_timeout_seconds is not None:
            options["idleTimeoutSeconds"] = self.idle_timeout_seconds
        if self.image is not None:
            options["image"] = self.image
        if self.image_pull_policy is not None:
            options["imagePullPolicy"] = self.image_pull_policy
        if self.resources is not None:
            options["resources"] = self.resources.to_k8s(child(path, "resources"))
        if self.env:
            options["env"] = [{"name": k, "value": str(v)} for k, v in self.env.items()]
        return options


@dataclass(frozen=True)
class ClusterSpec:
    """
    A Ray cluster: head, worker groups, autoscaling. Used on its own (RayCluster), as a RayJob's
    new cluster, or as a RayService's cluster.

    :param image: default Ray image of every group, e.g. ``rayproject/ray:2.52.0``.
    :param ray_version: ``rayVersion`` (should match the image).
    :param head: the head group.
    :param worker_groups: the worker groups.
    :param autoscaling: enables in-tree autoscaling with these options (None: off).
    :param suspend: create the cluster suspended.
    :param ray_token_auth: turn on Ray token authentication (KubeRay ``authOptions.mode: token``, Ray
        2.52 or later): KubeRay keeps the token in a Secret named after the cluster, or in
        ``ray_token_secret`` when given (key ``auth_token``); the provider reads it to reach the dashboard.
    :param ray_token_secret: an existing Secret holding the token under ``auth_token``.
    :param ray_k8s_token_auth: token authentication with Kubernetes credentials as the tokens
        (``authOptions.enableK8sTokenAuth``, KubeRay 1.6+, Ray 2.55+, RayCluster only): Ray asks the API
        server whether a token may ``ray:write`` the RayCluster; the provider sends its own Kubernetes
        bearer token. The pods' service account needs ``create`` on ``tokenreviews`` and
        ``subjectaccessreviews`` and ``ray:write`` on the RayCluster.
    :param overrides: raw dict, YAML text or YAML/JSON file merged on top of the built spec
        (see :mod:`airflow_provider_kuberay.specs.merge` for list semantics).
    """

    image: str | None = None
    ray_version: str | None = None
    head: HeadGroup = field(default_factory=HeadGroup)
    worker_groups: tuple[WorkerGroup, ...] | list[WorkerGroup] = ()
    autoscaling: Autoscaling | None = None
    suspend: bool = False
    ray_token_auth: bool = False
    ray_token_secret: str | None = None
    ray_k8s_token_auth: bool = False
    overrides: OverrideSource | None = None

    def to_dict(self, path: str = "spec", *, owner: str = "RayCluster") -> dict[str, Any]:
        """
        Return the validated RayClusterSpec dict.

        :param path: where the spec sits in the body (``spec``, ``spec.rayClusterSpec``...).
        :param owner: the kind that owns it (selects the KubeRay rules that apply).
        :raises SpecValidationError: naming the first invalid field.
        """
        spec: dict[str, Any] = {}
        if self.ray_version:
            spec["rayVersion"] = self.ray_version
        if self.autoscaling is not None:
            spec["enableInTreeAutoscaling"] = True
            options = self.autoscaling.to_dict(child(path, "autoscalerOptions"))
            if options:
                spec["autoscalerOptions"] = options
        if self.suspend:
            spec["suspend"] = True
        if self.ray_token_auth or self.ray_token_secret or self.ray_k8s_token_auth:
            spec["authOptions"] = {"mode": "token"}
            if self.ray_token_secret:
                spec["authOptions"]["secretName"] = self.ray_token_secret
            if self.ray_k8s_token_auth:
                spec["authOptions"]["enableK8sTokenAuth"] = True
        spec["headGroupSpec"] = self.head.to_dict(self.image, child(path, "headGroupSpec"))
        spec["workerGroupSpecs"] = [
            group.to_dict(self.image, child(child(path, "workerGroupSpecs"), i))
            for i, group in enumerate(self.worker_groups)
        ]
        spec = deep_merge(spec, load_overrides(self.overrides, child(path, "overrides")))
        validate_cluster_spec(spec, path, owner=owner)
        return spec


def ray_cluster_body(
    name: str,
    cluster: ClusterSpec,
    *,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    overrides: OverrideSource | None = None,
) -> dict[str, Any]:
    """
    Build and validate a complete ``ray.io/v1`` RayCluster body.

    :param name: the RayCluster name (DNS-1035, at most 53 characters).
    :param cluster: the cluster spec.
    :param namespace: the namespace (omitted when None).
    :param labels: resource labels.
    :param annotations: resource annotations.
    :param overrides: raw dict / YAML text / YAML file merged on top of the whole body.
    :raises SpecValidationError: naming the first invalid field.
    """
    return complete_body(
        "RayCluster",
        name,
        cluster.to_dict("spec"),
        namespace=namespace,
        labels=labels,
        annotations=annotations,
        overrides=overrides,
    )
