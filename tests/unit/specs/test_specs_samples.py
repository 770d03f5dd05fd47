"""Real-world corpus: KubeRay's own v1.7.0 sample manifests through the raw-spec path, and the
common ones rebuilt with the typed builders."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import pytest
import yaml

from airflow_provider_kuberay.specs import (
    Autoscaling,
    ClusterSpec,
    HeadGroup,
    IncrementalUpgrade,
    JobSpec,
    PodOptions,
    Resources,
    ServiceSpec,
    WorkerGroup,
    normalize_body,
    ray_cluster_body,
    ray_job_body,
    ray_service_body,
)
from airflow_provider_kuberay.specs.quantities import parse_quantity
from airflow_provider_kuberay.specs.resources import is_accelerator

# Registered by this folder's conftest (tests/unit has no packages to import it from).
crd_helper = sys.modules["kuberay_specs_crd_schema"]

# Collected at import: a missing shared data dir fails collection loudly, it is never skipped.
SAMPLES = crd_helper.sample_documents()
_YAML_TEXT = ("runtimeEnvYAML", "serveConfigV2")


def _meaning(node: Any, key: str | None = None) -> Any:
    """What a body means to the API server: nulls pruned, scalars compared as text, YAML fields parsed."""
    if isinstance(node, Mapping):
        return {k: _meaning(v, k) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_meaning(item) for item in node]
    if key in _YAML_TEXT and isinstance(node, str):
        return _meaning(yaml.safe_load(node))
    if isinstance(node, bool):
        return str(node).lower()
    return str(node)


def test_corpus_is_complete() -> None:
    kinds = [doc["kind"] for _, _, doc in SAMPLES]
    # KubeRay v1.7.0 ships 46 RayCluster, 19 RayJob and 15 RayService manifests.
    assert (kinds.count("RayCluster"), kinds.count("RayJob"), kinds.count("RayService")) == (46, 19, 15)


@pytest.mark.parametrize(("file", "index", "doc"), SAMPLES, ids=[f"{f}#{i}" for f, i, _ in SAMPLES])
def test_sample_through_raw_path(
    file: str, index: int, doc: dict[str, Any], schema_errors: Callable[[dict[str, Any]], list[str]]
) -> None:
    original = copy.deepcopy(doc)
    fill_name = None if doc.get("metadata", {}).get("name") else "sample-generated"
    body = normalize_body(doc, name=fill_name)
    assert doc == original, "the user's document must not be modified"
    expected = copy.deepcopy(original)
    if fill_name:
        expected["metadata"]["name"] = fill_name
    assert _meaning(body) == _meaning(expected)
    assert schema_errors(body) == []
    assert normalize_body(body) == body, "normalization is idempotent"


# ---- the builders can express the common samples ----------------------------------------------


def _resources(res: Mapping[str, Any] | None) -> dict[str, dict[str, Decimal]]:
    """Container resources as numbers; extended-resource requests are dropped (they default to limits)."""
    res = res or {}
    out: dict[str, dict[str, Decimal]] = {}
    for part in ("requests", "limits"):
        values = res.get(part) or {}
        out[part] = {k: parse_quantity(v, k) for k, v in values.items() if part == "limits" or not is_accelerator(k)}
    return out


def _group_shape(group: Mapping[str, Any]) -> dict[str, Any]:
    pod = group["template"]["spec"]
    container = pod["containers"][0]
    params = dict(group.get("rayStartParams") or {})
    # Defaults KubeRay applies itself when absent (dashboard host; accelerator params from limits).
    params.pop("dashboard-host", None)
    for key in ("num-gpus", "resources"):
        if key in params and any(is_accelerator(k) for k in (container.get("resources", {}).get("limits") or {})):
            params.pop(key)
    return {
        "groupName": group.get("groupName"),
        "replicas": group.get("replicas", 0),  # the CRD default
        "minReplicas": group.get("minReplicas", 0),
        "maxReplicas": group.get("maxReplicas"),
        "numOfHosts": group.get("numOfHosts", 1),
        "rayStartParams": params,
        "image": container["image"],
        "resources": _resources(container.get("resources")),
        "nodeSelector": pod.get("nodeSelector") or {},
        "tolerations": pod.get("tolerations") or [],
    }


_AUTOSCALER_KEYS = ("version", "upscalingMode", "idleTimeoutSeconds", "imagePullPolicy", "resources")


def _cluster_shape(spec: Mapping[str, Any]) -> dict[str, Any]:
    options = spec.get("autoscalerOptions") or {}
    return {
        "rayVersion": spec.get("rayVersion"),
        "enableInTreeAutoscaling": bool(spec.get("enableInTreeAutoscaling")),
        "autoscalerOptions": {
            k: (_resources(options[k]) if k == "resources" else options[k]) for k in _AUTOSCALER_KEYS if k in options
        },
        "head": _group_shape(spec["headGroupSpec"]),
        "workers": [_group_shape(g) for g in spec.get("workerGroupSpecs") or []],
    }


def _job_shape(body: Mapping[str, Any]) -> dict[str, Any]:
    spec = body["spec"]
    return {
        "entrypoint": spec.get("entrypoint"),
        "submissionMode": spec.get("submissionMode", "K8sJobMode"),
        "clusterSelector": spec.get("clusterSelector"),
        "shutdownAfterJobFinishes": bool(spec.get("shutdownAfterJobFinishes")),
        "runtimeEnv": yaml.safe_load(spec.get("runtimeEnvYAML") or "{}"),
        "cluster": _cluster_shape(spec["rayClusterSpec"]) if "rayClusterSpec" in spec else None,
    }


def _service_shape(body: Mapping[str, Any]) -> dict[str, Any]:
    spec = body["spec"]
    return {
        "upgradeStrategy": spec.get("upgradeStrategy"),
        "serveConfig": yaml.safe_load(spec["serveConfigV2"]),
        "cluster": _cluster_shape(spec["rayClusterConfig"]),
    }


def _shape(body: Mapping[str, Any]) -> dict[str, Any]:
    kind = body["kind"]
    if kind == "RayCluster":
        return _cluster_shape(body["spec"])
    return _job_shape(body) if kind == "RayJob" else _service_shape(body)


R252 = "rayproject/ray:2.52.0"
SMALL_HEAD = HeadGroup(resources=Resources(cpu=1, memory="2Gi", memory_limit="5Gi"))
AUTOSCALER = dict(
    upscaling_mode="Default",
    idle_timeout_seconds=60,
    image_pull_policy="IfNotPresent",
    resources=Resources(cpu="500m", memory="512Mi"),
)


def _autoscaler_cluster(version: str | None) -> ClusterSpec:
    return ClusterSpec(
        image=R252,
        ray_version="2.52.0",
        head=HeadGroup(resources=Resources(cpu=1, memory="2Gi", memory_limit="5Gi"), ray_start_params={"num-cpus": 0}),
        worker_groups=[
            WorkerGroup(
                "small-group", replicas=0, min_replicas=0, max_replicas=10, resources=Resources(cpu=1, memory="1Gi")
            )
        ],
        autoscaling=Autoscaling(version=version, **AUTOSCALER),  # type: ignore[arg-type]
    )


def _tpu_v4_multihost() -> dict[str, Any]:
    tpu = Resources(
        cpu=1,
        memory="40G",
        ephemeral_storage="10Gi",
        ephemeral_storage_limit="20Gi",
        accelerators={"google.com/tpu": 4},
    )
    selector = {"cloud.google.com/gke-tpu-accelerator": "tpu-v4-podslice", "cloud.google.com/gke-tpu-topology": "2x2x2"}
    return ray_cluster_body(
        "raycluster-tpu-v4-multihost",
        ClusterSpec(
            image="rayproject/ray:2.52.0-py310",
            ray_version="2.52.0",
            head=HeadGroup(
                resources=Resources(cpu=8, memory="40G", ephemeral_storage="10Gi", ephemeral_storage_limit="20Gi")
            ),
            worker_groups=[
                WorkerGroup(
                    "tpu-group", replicas=1, num_of_hosts=2, resources=tpu, pod=PodOptions(node_selector=selector)
                )
            ],
        ),
    )


def _tpu_v6e_singlehost() -> dict[str, Any]:
    tpu = Resources(cpu=24, memory="200G", accelerators={"google.com/tpu": 4})
    selector = {"cloud.google.com/gke-tpu-accelerator": "tpu-v6e-slice", "cloud.google.com/gke-tpu-topology": "2x2"}
    return ray_cluster_body(
        "tpu-singlehost",
        ClusterSpec(
            image=R252,
            ray_version="2.52.0",
            head=HeadGroup(resources=Resources(cpu=8, memory="40G")),
            worker_groups=[
                WorkerGroup(
                    "tpu-group",
                    replicas=1,
                    min_replicas=0,
                    max_replicas=1,
                    resources=tpu,
                    pod=PodOptions(node_selector=selector),
                )
            ],
        ),
    )


def _sample_cluster(
    worker: Resources, head_cpu: int = 1, head_memory: str = "5Gi", head_request: str = "2Gi"
) -> ClusterSpec:
    return ClusterSpec(
        image=R252,
        ray_version="2.52.0",
        head=HeadGroup(resources=Resources(cpu=head_cpu, memory=head_request, memory_limit=head_memory)),
        worker_groups=[WorkerGroup("small-group", replicas=1, min_replicas=1, max_replicas=5, resources=worker)],
    )


def _serve_config(file: str) -> str:
    doc = next(d for f, _, d in SAMPLES if f == file)
    return str(doc["spec"]["serveConfigV2"])


def _runtime_env(file: str) -> dict[str, Any]:
    doc = next(d for f, _, d in SAMPLES if f == file)
    return dict(yaml.safe_load(doc["spec"]["runtimeEnvYAML"]))


EXPRESSIBLE: dict[str, Callable[[], dict[str, Any]]] = {
    "ray-cluster.sample.yaml": lambda: ray_cluster_body(
        "raycluster-kuberay",
        ClusterSpec(
            image=R252,
            ray_version="2.52.0",
            head=HeadGroup(resources=Resources(cpu=1, memory="5Gi")),
            worker_groups=[
                WorkerGroup(
                    "workergroup", replicas=1, min_replicas=1, max_replicas=5, resources=Resources(cpu=1, memory="1Gi")
                )
            ],
        ),
    ),
    "ray-cluster.autoscaler.yaml": lambda: ray_cluster_body("raycluster-autoscaler", _autoscaler_cluster(None)),
    "ray-cluster.autoscaler-v2.yaml": lambda: ray_cluster_body("raycluster-autoscaler", _autoscaler_cluster("v2")),
    "ray-cluster.tpu-v4-multihost.yaml": _tpu_v4_multihost,
    "ray-cluster.tpu-v6e-singlehost.yaml": _tpu_v6e_singlehost,
    "ray-job.sample.yaml": lambda: ray_job_body(
        "rayjob-sample",
        JobSpec(
            entrypoint="python /home/ray/samples/sample_code.py",
            runtime_env=_runtime_env("ray-job.sample.yaml"),
            shutdown_after_job_finishes=False,
            cluster=_sample_cluster(Resources(cpu="200m", cpu_limit=1)),
        ),
    ),
    "ray-job.use-existing-raycluster.yaml": lambda: ray_job_body(
        "rayjob-use-existing-raycluster",
        JobSpec(
            entrypoint='python -c "import ray; ray.init(); print(ray.cluster_resources())"',
            cluster_name="ray-cluster-kuberay",
        ),
    ),
    "ray-job.sidecar-mode.yaml": lambda: ray_job_body(
        "rayjob-sidecar-mode",
        JobSpec(
            entrypoint="python /home/ray/samples/sample_code.py",
            submission_mode="SidecarMode",
            runtime_env=_runtime_env("ray-job.sidecar-mode.yaml"),
            shutdown_after_job_finishes=False,
            cluster=_sample_cluster(Resources(cpu=1, memory="1Gi")),
        ),
    ),
    "ray-service.sample.yaml": lambda: ray_service_body(
        "rayservice-sample",
        ServiceSpec(
            serve_config=_serve_config("ray-service.sample.yaml"),
            cluster=_sample_cluster(Resources(cpu="500m", cpu_limit=1, memory="2Gi"), head_cpu=2),
        ),
    ),
    "ray-service.incremental-upgrade.yaml": lambda: ray_service_body(
        "rayservice-incremental-upgrade",
        ServiceSpec(
            serve_config=_serve_config("ray-service.incremental-upgrade.yaml"),
            incremental_upgrade=IncrementalUpgrade(
                "istio", step_size_percent=10, interval_seconds=30, max_surge_percent=10
            ),
            cluster=ClusterSpec(
                image="rayproject/ray:2.51.0",
                ray_version="2.51.0",
                head=HeadGroup(
                    resources=Resources(cpu=1, memory="2Gi", memory_limit="5Gi"), ray_start_params={"num-cpus": "0"}
                ),
                worker_groups=[
                    WorkerGroup(
                        "small-group",
                        min_replicas=0,
                        max_replicas=4,
                        resources=Resources(cpu="500m", cpu_limit=1, memory="1Gi", memory_limit="4Gi"),
                    )
                ],
                autoscaling=Autoscaling(),
            ),
        ),
    ),
    "ray-service.stable-diffusion.yaml": lambda: ray_service_body(
        "stable-diffusion",
        ServiceSpec(
            serve_config=_serve_config("ray-service.stable-diffusion.yaml"),
            cluster=ClusterSpec(
                image="rayproject/ray-ml:2.46.0.0e19ea-py39-gpu",
                ray_version="2.46.0",
                head=HeadGroup(resources=Resources(cpu=2, memory="8Gi")),
                worker_groups=[
                    WorkerGroup(
                        "gpu-group",
                        replicas=1,
                        min_replicas=1,
                        max_replicas=10,
                        resources=Resources(
                            cpu=3, cpu_limit=4, memory="12Gi", memory_limit="16Gi", accelerators={"nvidia.com/gpu": 1}
                        ),
                        pod=PodOptions(
                            tolerations=[
                                {
                                    "key": "ray.io/node-type",
                                    "operator": "Equal",
                                    "value": "worker",
                                    "effect": "NoSchedule",
                                }
                            ]
                        ),
                    )
                ],
            ),
        ),
    ),
}


def test_builders_express_the_common_samples() -> None:
    # autoscaler v1/v2, TPU multi-host and single-host, GPU group with tolerations, new-cluster job,
    # existing-cluster job, sidecar mode, blue/green and incremental-upgrade services.
    names = {f for f, _, _ in SAMPLES}
    assert set(EXPRESSIBLE) <= names
    assert len(EXPRESSIBLE) >= 10


@pytest.mark.parametrize("file", sorted(EXPRESSIBLE))
def test_builder_reproduces_sample(file: str, schema_errors: Callable[[dict[str, Any]], list[str]]) -> None:
    sample = next(d for f, _, d in SAMPLES if f == file)
    built = EXPRESSIBLE[file]()
    assert built["kind"] == sample["kind"]
    assert schema_errors(built) == []
    assert _shape(built) == _shape(normalize_body(sample))
