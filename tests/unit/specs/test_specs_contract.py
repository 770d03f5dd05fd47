"""Contract: builder output validates against the KubeRay v1.7.0 CRD schemas (ray.io/v1)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

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
    ray_cluster_body,
    ray_job_body,
    ray_service_body,
)

IMAGE = "rayproject/ray:2.52.0"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
SERVE_CONFIG = {
    "applications": [
        {"name": "fruit", "import_path": "fruit.deployment_graph", "route_prefix": "/fruit"},
        {"name": "calc", "import_path": "conditional_dag.serve_dag", "route_prefix": "/calc"},
    ]
}


def _cpu_cluster(**kwargs: Any) -> ClusterSpec:
    defaults: dict[str, Any] = {
        "image": IMAGE,
        "ray_version": "2.52.0",
        "head": HeadGroup(resources=Resources(cpu=1, memory="4Gi")),
        "worker_groups": [WorkerGroup("cpu", min_replicas=1, max_replicas=4, resources=Resources(cpu=2, memory="8Gi"))],
    }
    defaults.update(kwargs)
    return ClusterSpec(**defaults)


def _autoscaled(**kwargs: Any) -> ClusterSpec:
    return _cpu_cluster(autoscaling=Autoscaling(version="v2", idle_timeout_seconds=120), **kwargs)


CONFIGS: dict[str, Callable[[], dict[str, Any]]] = {
    "cluster-minimal": lambda: ray_cluster_body("minimal", ClusterSpec(image=IMAGE)),
    "cluster-cpu-and-gpu-groups": lambda: ray_cluster_body(
        "mixed",
        _cpu_cluster(
            worker_groups=[
                WorkerGroup("cpu", min_replicas=0, max_replicas=8, resources=Resources(cpu=4, memory="16Gi")),
                WorkerGroup(
                    "gpu-a100",
                    replicas=1,
                    min_replicas=0,
                    max_replicas=2,
                    image="rayproject/ray:2.52.0-gpu",
                    resources=Resources(cpu=8, memory="64Gi", accelerators={"nvidia.com/gpu": 2}),
                    pod=PodOptions(
                        node_selector={"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"},
                        tolerations=[GPU_TOLERATION],
                    ),
                ),
            ]
        ),
        namespace="ml",
    ),
    "cluster-autoscaler-v2-options": lambda: ray_cluster_body(
        "autoscaled",
        _cpu_cluster(
            autoscaling=Autoscaling(
                version="v2",
                upscaling_mode="Conservative",
                idle_timeout_seconds=300,
                image=IMAGE,
                resources=Resources(cpu="500m", memory="512Mi"),
                env={"AUTOSCALER_LOG_LEVEL": "debug"},
                image_pull_policy="IfNotPresent",
            ),
            worker_groups=[WorkerGroup("cpu", min_replicas=0, max_replicas=10, idle_timeout_seconds=60)],
        ),
    ),
    "cluster-autoscaler-v1-aggressive": lambda: ray_cluster_body(
        "autoscaled-v1", _cpu_cluster(autoscaling=Autoscaling(version="v1", upscaling_mode="Aggressive"))
    ),
    "cluster-tpu-multihost": lambda: ray_cluster_body(
        "tpu",
        _cpu_cluster(
            worker_groups=[
                WorkerGroup(
                    "tpu-v4",
                    replicas=1,
                    num_of_hosts=2,
                    resources=Resources(cpu=1, memory="40G", accelerators={"google.com/tpu": 4}),
                    pod=PodOptions(
                        node_selector={
                            "cloud.google.com/gke-tpu-accelerator": "tpu-v4-podslice",
                            "cloud.google.com/gke-tpu-topology": "2x2x2",
                        }
                    ),
                )
            ]
        ),
    ),
    "cluster-amd-and-neuron": lambda: ray_cluster_body(
        "accel",
        _cpu_cluster(
            worker_groups=[
                WorkerGroup(
                    "amd", replicas=1, resources=Resources(cpu=8, memory="32Gi", accelerators={"amd.com/gpu": 1})
                ),
                WorkerGroup(
                    "inf2",
                    replicas=1,
                    resources=Resources(cpu=8, memory="32Gi", accelerators={"aws.amazon.com/neuroncore": 2}),
                    ray_resources={"inferentia": 1},
                ),
            ]
        ),
    ),
    "cluster-head-options": lambda: ray_cluster_body(
        "head-options",
        _cpu_cluster(
            head=HeadGroup(
                resources=Resources(cpu=2, memory="8Gi", cpu_limit=4, ephemeral_storage="10Gi"),
                ray_start_params={"num-cpus": 0, "include-dashboard": True},
                service_type="NodePort",
                enable_ingress=False,
                pod=PodOptions(
                    env=[{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}}],
                    volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
                    volume_mounts=[{"name": "data", "mountPath": "/data"}],
                    service_account_name="ray",
                    labels={"team": "ml"},
                    annotations={"example.com/owner": "ml"},
                    image_pull_secrets=["registry"],
                ),
            )
        ),
        labels={"app.kubernetes.io/managed-by": "airflow"},
        annotations={"airflow.apache.org/dag-id": "train"},
    ),
    "cluster-overrides-dict": lambda: ray_cluster_body(
        "overridden",
        _cpu_cluster(
            overrides={
                "headGroupSpec": {
                    "template": {"spec": {"containers": [{"name": "ray-head", "imagePullPolicy": "Always"}]}}
                },
                "workerGroupSpecs": [{"groupName": "cpu", "maxReplicas": 6}],
            }
        ),
        overrides={"metadata": {"labels": {"extra": "yes"}}},
    ),
    "cluster-overrides-yaml-text": lambda: ray_cluster_body(
        "overridden-yaml",
        _cpu_cluster(overrides="headGroupSpec:\n  serviceType: LoadBalancer\n  rayStartParams:\n    num-cpus: '0'\n"),
    ),
    "cluster-suspended": lambda: ray_cluster_body("suspended", _cpu_cluster(suspend=True), namespace="default"),
    "job-new-cluster": lambda: ray_job_body(
        "job-new",
        JobSpec(
            entrypoint="python train.py --epochs 3",
            cluster=_cpu_cluster(),
            runtime_env={"pip": ["requests==2.31.0"], "env_vars": {"MODE": "test"}},
            job_id="train-abc123",
            ttl_seconds_after_finished=60,
            active_deadline_seconds=3600,
            pre_running_deadline_seconds=600,
            backoff_limit=2,
            entrypoint_num_cpus=1,
            entrypoint_num_gpus=0,
            entrypoint_resources={"custom": 1},
            submitter_backoff_limit=1,
            metadata={"owner": "airflow"},
        ),
    ),
    "job-existing-cluster": lambda: ray_job_body(
        "job-existing", JobSpec(entrypoint="python -c 'print(1)'", cluster_name="shared-cluster")
    ),
    "job-sidecar-mode": lambda: ray_job_body(
        "job-sidecar", JobSpec(entrypoint="python main.py", cluster=_cpu_cluster(), submission_mode="SidecarMode")
    ),
    "job-http-mode-suspended": lambda: ray_job_body(
        "job-http",
        JobSpec(entrypoint="python main.py", cluster=_autoscaled(), submission_mode="HTTPMode", suspend=True),
    ),
    "job-interactive-mode": lambda: ray_job_body(
        "job-interactive", JobSpec(entrypoint="", cluster=_cpu_cluster(), submission_mode="InteractiveMode")
    ),
    "job-gpu-with-submitter-template": lambda: ray_job_body(
        "job-gpu",
        JobSpec(
            entrypoint="python infer.py",
            cluster=_cpu_cluster(
                worker_groups=[
                    WorkerGroup(
                        "gpu", replicas=2, resources=Resources(cpu=4, memory="16Gi", accelerators={"nvidia.com/gpu": 1})
                    )
                ]
            ),
            submitter_pod_template={
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "ray-job-submitter", "image": IMAGE}],
                }
            },
        ),
        overrides={"spec": {"rayClusterSpec": {"headGroupSpec": {"rayStartParams": {"num-cpus": "0"}}}}},
    ),
    "service-new-cluster": lambda: ray_service_body(
        "svc-blue-green", ServiceSpec(serve_config=SERVE_CONFIG, cluster=_cpu_cluster(), upgrade_strategy="NewCluster")
    ),
    "service-incremental-upgrade": lambda: ray_service_body(
        "svc-incremental",
        ServiceSpec(
            serve_config=SERVE_CONFIG,
            cluster=_autoscaled(),
            incremental_upgrade=IncrementalUpgrade(
                "istio", step_size_percent=10, interval_seconds=30, max_surge_percent=20
            ),
        ),
    ),
    "service-in-place-yaml-config": lambda: ray_service_body(
        "svc-in-place",
        ServiceSpec(
            serve_config="applications:\n- name: app\n  import_path: app.main:deployment\n",
            cluster=_cpu_cluster(),
            upgrade_strategy="None",
            ray_cluster_deletion_delay_seconds=30,
            exclude_head_pod_from_serve_svc=True,
        ),
    ),
    "service-custom-serve-service": lambda: ray_service_body(
        "svc-custom",
        ServiceSpec(
            serve_config=SERVE_CONFIG,
            cluster=_cpu_cluster(),
            serve_service={"metadata": {"name": "custom-serve"}, "spec": {"ports": [{"name": "serve", "port": 8000}]}},
        ),
        overrides={"metadata": {"annotations": {"note": "custom"}}},
    ),
}


def test_there_are_at_least_fifteen_configurations() -> None:
    assert len(CONFIGS) >= 15


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_builder_output_is_schema_valid(name: str, schema_errors: Callable[[dict[str, Any]], list[str]]) -> None:
    body = CONFIGS[name]()
    assert body["apiVersion"] == "ray.io/v1"
    assert schema_errors(body) == []


MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "string-where-int": lambda b: b["spec"]["workerGroupSpecs"][0].__setitem__("minReplicas", "two"),
    "unknown-field-typo": lambda b: b["spec"]["workerGroupSpecs"][0].__setitem__("minReplica", 1),
    "missing-template": lambda b: b["spec"]["headGroupSpec"].pop("template"),
    "bad-enum": lambda b: b["spec"].__setitem__("autoscalerOptions", {"upscalingMode": "Fast"}),
    "int-ray-start-param": lambda b: b["spec"]["headGroupSpec"]["rayStartParams"].__setitem__("num-cpus", 0),
    "bad-quantity": lambda b: b["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"][
        "limits"
    ].__setitem__("memory", "lots"),
    "int32-overflow": lambda b: b["spec"]["workerGroupSpecs"][0].__setitem__("maxReplicas", 2**31),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_schema_check_rejects_a_mutated_body(
    mutation: str, schema_errors: Callable[[dict[str, Any]], list[str]]
) -> None:
    body = copy.deepcopy(CONFIGS["cluster-cpu-and-gpu-groups"]())
    assert schema_errors(body) == []
    MUTATIONS[mutation](body)
    assert schema_errors(body), f"mutation {mutation} should break the schema"
