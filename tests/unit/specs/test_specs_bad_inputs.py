"""Bad inputs are rejected before any API call, with an error naming the field and what is allowed."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_kuberay.specs import (
    Autoscaling,
    ClusterSpec,
    HeadGroup,
    IncrementalUpgrade,
    JobSpec,
    Resources,
    ServiceSpec,
    SpecValidationError,
    WorkerGroup,
    normalize_body,
    ray_cluster_body,
    ray_job_body,
    ray_service_body,
)

IMAGE = "rayproject/ray:2.52.0"
SERVE = {"applications": [{"name": "app", "import_path": "app:deployment"}]}
GPU_LIMIT = 'spec.workerGroupSpecs[0].template.spec.containers[0].resources.limits["nvidia.com/gpu"]'
HEAD_RES = "spec.headGroupSpec.template.spec.containers[0].resources"


def cluster(*groups: WorkerGroup, **kwargs: Any) -> ClusterSpec:
    kwargs.setdefault("image", IMAGE)
    kwargs.setdefault("ray_version", "2.52.0")
    return ClusterSpec(worker_groups=list(groups), **kwargs)


def build_cluster(*groups: WorkerGroup, **kwargs: Any) -> Callable[[], object]:
    return lambda: ray_cluster_body("c", cluster(*groups, **kwargs))


def build_job(**kwargs: Any) -> Callable[[], object]:
    kwargs.setdefault("entrypoint", "python main.py")
    if "cluster_name" not in kwargs:
        kwargs.setdefault("cluster", cluster())
    return lambda: ray_job_body("j", JobSpec(**kwargs))


def build_service(**kwargs: Any) -> Callable[[], object]:
    kwargs.setdefault("serve_config", SERVE)
    kwargs.setdefault("cluster", cluster())
    return lambda: ray_service_body("s", ServiceSpec(**kwargs))


def raw(
    mutate: Callable[[dict[str, Any]], None], base: Callable[[], dict[str, Any]] | None = None
) -> Callable[[], object]:
    def run() -> object:
        body = copy.deepcopy((base or (lambda: ray_cluster_body("c", cluster(WorkerGroup("w")))))())
        mutate(body)
        return normalize_body(body)

    return run


def raw_job(mutate: Callable[[dict[str, Any]], None]) -> Callable[[], object]:
    return raw(
        mutate, lambda: ray_job_body("j", JobSpec(entrypoint="python main.py", cluster=cluster(WorkerGroup("w"))))
    )


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(body: dict[str, Any]) -> None:
        node = body
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


INCREMENTAL = IncrementalUpgrade("istio", step_size_percent=10, interval_seconds=30)
AUTOSCALED = cluster(autoscaling=Autoscaling())

BAD_INPUTS: list[tuple[str, Callable[[], object], str]] = [
    (
        "min-greater-than-max",
        build_cluster(WorkerGroup("w", min_replicas=5, max_replicas=2)),
        "spec.workerGroupSpecs[0].minReplicas",
    ),
    (
        "replicas-above-max",
        build_cluster(WorkerGroup("w", replicas=5, min_replicas=0, max_replicas=2)),
        "spec.workerGroupSpecs[0].replicas",
    ),
    (
        "replicas-below-min",
        build_cluster(WorkerGroup("w", replicas=1, min_replicas=2, max_replicas=4)),
        "spec.workerGroupSpecs[0].replicas",
    ),
    (
        "negative-min-replicas",
        build_cluster(WorkerGroup("w", min_replicas=-1, max_replicas=2)),
        "spec.workerGroupSpecs[0].minReplicas",
    ),
    (
        "negative-max-replicas",
        build_cluster(WorkerGroup("w", min_replicas=0, max_replicas=-3)),
        "spec.workerGroupSpecs[0].maxReplicas",
    ),
    ("fractional-replicas", build_cluster(WorkerGroup("w", replicas=1.5)), "spec.workerGroupSpecs[0].replicas"),  # type: ignore[arg-type]
    ("zero-hosts", build_cluster(WorkerGroup("w", num_of_hosts=0)), "spec.workerGroupSpecs[0].numOfHosts"),
    (
        "fractional-gpu",
        build_cluster(WorkerGroup("w", resources=Resources(accelerators={"nvidia.com/gpu": 0.5}))),
        GPU_LIMIT,
    ),  # type: ignore[dict-item]
    (
        "negative-gpu",
        build_cluster(WorkerGroup("w", resources=Resources(accelerators={"nvidia.com/gpu": -1}))),
        GPU_LIMIT,
    ),
    (
        "unknown-accelerator",
        build_cluster(WorkerGroup("w", resources=Resources(accelerators={"nvidia.com/gpus": 1}))),
        'spec.workerGroupSpecs[0].template.spec.containers[0].resources.limits["nvidia.com/gpus"]',
    ),
    ("group-name-with-capitals", build_cluster(WorkerGroup("GPU")), "spec.workerGroupSpecs[0].groupName"),
    ("duplicate-group-names", build_cluster(WorkerGroup("w"), WorkerGroup("w")), "spec.workerGroupSpecs[1].groupName"),
    ("cluster-name-with-capitals", lambda: ray_cluster_body("MyCluster", cluster()), "metadata.name"),
    ("cluster-name-over-53", lambda: ray_cluster_body("a" * 54, cluster()), "metadata.name"),
    ("job-name-over-47", lambda: ray_job_body("a" * 48, JobSpec("python x.py", cluster_name="c")), "metadata.name"),
    ("name-starting-with-digit", lambda: ray_cluster_body("1cluster", cluster()), "metadata.name"),
    ("bad-namespace", lambda: ray_cluster_body("c", cluster(), namespace="My_NS"), "metadata.namespace"),
    (
        "missing-image",
        lambda: ray_cluster_body("c", ClusterSpec()),
        "spec.headGroupSpec.template.spec.containers[0].image",
    ),
    (
        "bad-label-value",
        lambda: ray_cluster_body("c", cluster(), labels={"example.com/team": "Bad Value"}),
        'metadata.labels["example.com/team"]',
    ),
    ("unparseable-cpu", build_cluster(head=HeadGroup(resources=Resources(cpu="two"))), f"{HEAD_RES}.requests.cpu"),
    (
        "unparseable-memory",
        build_cluster(head=HeadGroup(resources=Resources(memory="8GB"))),
        f"{HEAD_RES}.requests.memory",
    ),
    (
        "cpu-limit-below-request",
        build_cluster(head=HeadGroup(resources=Resources(cpu=4, cpu_limit=2))),
        f"{HEAD_RES}.limits.cpu",
    ),
    (
        "memory-limit-below-request",
        build_cluster(head=HeadGroup(resources=Resources(memory="8Gi", memory_limit="4Gi"))),
        f"{HEAD_RES}.limits.memory",
    ),
    ("unknown-service-type", build_cluster(head=HeadGroup(service_type="Ingress")), "spec.headGroupSpec.serviceType"),
    (
        "ray-start-param-labels",
        build_cluster(head=HeadGroup(ray_start_params={"labels": "a=b"})),
        "spec.headGroupSpec.rayStartParams.labels",
    ),
    (
        "unknown-upscaling-mode",
        build_cluster(autoscaling=Autoscaling(upscaling_mode="Fast")),
        "spec.autoscalerOptions.upscalingMode",
    ),
    (
        "negative-autoscaler-idle",
        build_cluster(autoscaling=Autoscaling(idle_timeout_seconds=-5)),
        "spec.autoscalerOptions.idleTimeoutSeconds",
    ),
    (
        "group-idle-timeout-without-v2",
        build_cluster(WorkerGroup("w", idle_timeout_seconds=30), autoscaling=Autoscaling(version="v1")),
        "spec.workerGroupSpecs[0].idleTimeoutSeconds",
    ),
    (
        "token-auth-old-ray",
        build_cluster(ray_version="2.40.0", overrides={"authOptions": {"mode": "token"}}),
        "spec.rayVersion",
    ),
    ("both-new-and-existing-cluster", build_job(cluster=cluster(), cluster_name="shared"), "spec.clusterSelector"),
    ("neither-new-nor-existing-cluster", build_job(cluster=None), "spec.rayClusterSpec"),
    ("empty-entrypoint", build_job(entrypoint="  "), "spec.entrypoint"),
    ("runtime-env-not-mapping", build_job(runtime_env=["requests"]), "spec.runtimeEnvYAML"),  # type: ignore[arg-type]
    ("runtime-env-yaml-list", build_job(runtime_env="- requests\n- numpy\n"), "spec.runtimeEnvYAML"),
    ("unknown-submission-mode", build_job(submission_mode="BatchMode"), "spec.submissionMode"),
    ("negative-ttl", build_job(ttl_seconds_after_finished=-1), "spec.ttlSecondsAfterFinished"),
    ("zero-active-deadline", build_job(active_deadline_seconds=0), "spec.activeDeadlineSeconds"),
    ("negative-pre-running-deadline", build_job(pre_running_deadline_seconds=-10), "spec.preRunningDeadlineSeconds"),
    ("negative-backoff-limit", build_job(backoff_limit=-1), "spec.backoffLimit"),
    (
        "ttl-without-shutdown",
        build_job(ttl_seconds_after_finished=60, shutdown_after_job_finishes=False),
        "spec.ttlSecondsAfterFinished",
    ),
    ("suspend-without-shutdown", build_job(suspend=True, shutdown_after_job_finishes=False), "spec.suspend"),
    (
        "existing-cluster-sidecar-mode",
        build_job(cluster_name="shared", submission_mode="SidecarMode"),
        "spec.submissionMode",
    ),
    ("existing-cluster-backoff", build_job(cluster_name="shared", backoff_limit=2), "spec.backoffLimit"),
    ("interactive-mode-backoff", build_job(submission_mode="InteractiveMode", backoff_limit=1), "spec.backoffLimit"),
    ("entrypoint-resources-negative", build_job(entrypoint_resources={"custom": -1}), "spec.entrypointResources"),
    ("serve-config-does-not-parse", build_service(serve_config="applications: [\n  - name: x\n"), "spec.serveConfigV2"),
    (
        "serve-config-no-applications",
        build_service(serve_config={"applications": []}),
        "spec.serveConfigV2.applications",
    ),
    (
        "serve-app-without-import-path",
        build_service(serve_config={"applications": [{"name": "a"}]}),
        "spec.serveConfigV2.applications[0].import_path",
    ),
    (
        "serve-duplicate-app-names",
        build_service(
            serve_config={"applications": [{"name": "a", "import_path": "m:a"}, {"name": "a", "import_path": "m:b"}]}
        ),
        "spec.serveConfigV2.applications[1].name",
    ),
    ("unknown-upgrade-strategy", build_service(upgrade_strategy="Rolling"), "spec.upgradeStrategy.type"),
    (
        "incremental-without-autoscaling",
        build_service(incremental_upgrade=INCREMENTAL),
        "spec.rayClusterConfig.enableInTreeAutoscaling",
    ),
    (
        "incremental-step-above-surge",
        build_service(
            cluster=AUTOSCALED, incremental_upgrade=IncrementalUpgrade("istio", 50, 30, max_surge_percent=20)
        ),
        "spec.upgradeStrategy.clusterUpgradeOptions.stepSizePercent",
    ),
    (
        "incremental-zero-interval",
        build_service(cluster=AUTOSCALED, incremental_upgrade=IncrementalUpgrade("istio", 10, 0)),
        "spec.upgradeStrategy.clusterUpgradeOptions.intervalSeconds",
    ),
    (
        "incremental-options-with-other-strategy",
        build_service(upgrade_strategy="NewCluster", incremental_upgrade=INCREMENTAL),
        "spec.upgradeStrategy.clusterUpgradeOptions",
    ),
    ("overrides-file-missing", build_cluster(overrides="/nonexistent/overrides.yaml"), "spec.overrides"),
    ("overrides-not-mapping", build_cluster(overrides="- a\n- b\n"), "spec.overrides"),
    ("raw-v1alpha1", raw(_set(["apiVersion"], "ray.io/v1alpha1")), "apiVersion"),
    (
        "raw-int-ray-start-param-list",
        raw(_set(["spec", "headGroupSpec", "rayStartParams"], ["num-cpus"])),
        "spec.headGroupSpec.rayStartParams",
    ),
    (
        "raw-group-resources-and-ray-start-params",
        raw(
            lambda b: b["spec"]["workerGroupSpecs"][0].update(
                {"resources": {"CPU": "2"}, "rayStartParams": {"num-cpus": "2"}}
            )
        ),
        "spec.workerGroupSpecs[0].resources",
    ),
    (
        "raw-fractional-gpu-quantity",
        raw(
            _set(
                ["spec", "workerGroupSpecs", 0, "template", "spec", "containers", 0, "resources"],
                {"limits": {"nvidia.com/gpu": "500m"}},
            )
        ),
        GPU_LIMIT,
    ),
    (
        "raw-selector-without-cluster-key",
        raw_job(lambda b: (b["spec"].pop("rayClusterSpec"), b["spec"].__setitem__("clusterSelector", {"app": "x"}))),
        'spec.clusterSelector["ray.io/cluster"]',
    ),
    (
        "raw-entrypoint-resources-not-json",
        raw_job(_set(["spec", "entrypointResources"], "{custom: 1")),
        "spec.entrypointResources",
    ),
    (
        "raw-v2-head-restart-always",
        raw(
            lambda b: (
                b["spec"].update({"enableInTreeAutoscaling": True, "autoscalerOptions": {"version": "v2"}}),
                b["spec"]["headGroupSpec"]["template"]["spec"].__setitem__("restartPolicy", "Always"),
            )
        ),
        "spec.headGroupSpec.template.spec.restartPolicy",
    ),
    (
        "raw-deletion-rule-two-conditions",
        raw_job(
            lambda b: b["spec"].update(
                {
                    "shutdownAfterJobFinishes": False,
                    "deletionStrategy": {
                        "deletionRules": [
                            {
                                "policy": "DeleteSelf",
                                "condition": {"jobStatus": "FAILED", "jobDeploymentStatus": "Failed"},
                            }
                        ]
                    },
                }
            )
        ),
        "spec.deletionStrategy.deletionRules[0].condition",
    ),
    ("raw-missing-head", raw(lambda b: b["spec"].pop("headGroupSpec")), "spec.headGroupSpec"),
    (
        "raw-no-containers",
        raw(_set(["spec", "headGroupSpec", "template", "spec", "containers"], [])),
        "spec.headGroupSpec.template.spec.containers",
    ),
]


def test_at_least_thirty_distinct_bad_inputs() -> None:
    ids = [case[0] for case in BAD_INPUTS]
    assert len(ids) == len(set(ids)) >= 30


@pytest.mark.parametrize(("case", "build", "path"), BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_names_the_field(case: str, build: Callable[[], object], path: str) -> None:
    with pytest.raises(SpecValidationError) as caught:
        build()
    assert caught.value.path == path, str(caught.value)
    assert str(caught.value).startswith(path + ":")
    assert caught.value.allowed, "the error must say what is allowed"
    assert isinstance(caught.value, ValueError)


def test_overrides_file_is_loaded(tmp_path: Path) -> None:
    file = tmp_path / "head.yaml"
    file.write_text("headGroupSpec:\n  serviceType: NodePort\n")
    body = ray_cluster_body("c", cluster(overrides=file))
    assert body["spec"]["headGroupSpec"]["serviceType"] == "NodePort"
