"""What the builders produce: defaults, accelerators, jobs and services."""

from __future__ import annotations

import json
from typing import Any

import yaml

from airflow_provider_kuberay.specs import (
    Autoscaling,
    ClusterSpec,
    HeadGroup,
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

IMAGE = "rayproject/ray:2.52.0"


def _head_container(body: dict[str, Any]) -> dict[str, Any]:
    return body["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]


def test_sane_defaults() -> None:
    body = ray_cluster_body("c", ClusterSpec(image=IMAGE, worker_groups=[WorkerGroup("w")]))
    head = body["spec"]["headGroupSpec"]
    assert head["serviceType"] == "ClusterIP"
    assert head["rayStartParams"]["dashboard-host"] == "0.0.0.0"
    for group in (head, body["spec"]["workerGroupSpecs"][0]):
        pod = group["template"]["spec"]
        container = pod["containers"][0]
        assert {"name": "ray-logs", "emptyDir": {}} in pod["volumes"]
        assert {"name": "ray-logs", "mountPath": "/tmp/ray"} in container["volumeMounts"]
        assert container["lifecycle"]["preStop"]["exec"]["command"][-1] == "ray stop"
        assert {"name": "RAY_USAGE_STATS_ENABLED", "value": "0"} in container["env"]
    assert {p["name"]: p["containerPort"] for p in _head_container(body)["ports"]}["dashboard"] == 8265
    worker = body["spec"]["workerGroupSpecs"][0]
    assert (worker["replicas"], worker["minReplicas"], worker["maxReplicas"]) == (1, 1, 1)


def test_user_env_wins_over_default_usage_stats() -> None:
    head = HeadGroup(pod=PodOptions(env={"RAY_USAGE_STATS_ENABLED": "1", "A": "b"}))
    env = _head_container(ray_cluster_body("c", ClusterSpec(image=IMAGE, head=head)))["env"]
    assert env == [{"name": "RAY_USAGE_STATS_ENABLED", "value": "1"}, {"name": "A", "value": "b"}]


def test_user_mount_at_tmp_ray_replaces_the_default() -> None:
    pod = PodOptions(
        volumes=[{"name": "logs", "persistentVolumeClaim": {"claimName": "ray-logs-pvc"}}],
        volume_mounts=[{"name": "logs", "mountPath": "/tmp/ray"}],
    )
    body = ray_cluster_body("c", ClusterSpec(image=IMAGE, head=HeadGroup(pod=pod)))
    template = body["spec"]["headGroupSpec"]["template"]["spec"]
    assert template["volumes"] == [{"name": "logs", "persistentVolumeClaim": {"claimName": "ray-logs-pvc"}}]
    assert template["containers"][0]["volumeMounts"] == [{"name": "logs", "mountPath": "/tmp/ray"}]


def test_replica_defaults() -> None:
    assert WorkerGroup("w").replica_counts() == (1, 1, 1)
    assert WorkerGroup("w", replicas=3).replica_counts() == (3, 3, 3)
    assert WorkerGroup("w", min_replicas=0, max_replicas=10).replica_counts() == (0, 0, 10)
    assert WorkerGroup("w", max_replicas=4).replica_counts() == (0, 0, 4)
    assert WorkerGroup("w", replicas=2, max_replicas=4).replica_counts() == (2, 2, 4)


def test_cpu_and_gpu_groups_in_one_cluster() -> None:
    gpu = WorkerGroup(
        "gpu",
        replicas=1,
        resources=Resources(cpu=8, memory="32Gi", accelerators={"nvidia.com/gpu": 2}),
        pod=PodOptions(node_selector={"gpu": "a100"}, tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists"}]),
    )
    tpu = WorkerGroup(
        "tpu", replicas=1, resources=Resources(accelerators={"google.com/tpu": 4}), ray_resources={"x": 1}
    )
    body = ray_cluster_body("c", ClusterSpec(image=IMAGE, worker_groups=[WorkerGroup("cpu"), gpu, tpu]))
    cpu_group, gpu_group, tpu_group = body["spec"]["workerGroupSpecs"]
    assert cpu_group["rayStartParams"] == {}
    assert gpu_group["rayStartParams"] == {"num-gpus": "2"}
    gpu_pod = gpu_group["template"]["spec"]
    assert gpu_pod["containers"][0]["resources"]["limits"] == {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2"}
    assert gpu_pod["nodeSelector"] == {"gpu": "a100"}
    assert gpu_pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists"}]
    encoded = tpu_group["rayStartParams"]["resources"]
    assert encoded.startswith("'")
    assert encoded.endswith("'")
    assert json.loads(encoded.strip("'")) == {"TPU": 4, "x": 1}


def test_autoscaling_options() -> None:
    cluster = ClusterSpec(
        image=IMAGE,
        autoscaling=Autoscaling(version="v2", upscaling_mode="Conservative", idle_timeout_seconds=30, image="img"),
        worker_groups=[WorkerGroup("w", min_replicas=0, max_replicas=5)],
    )
    spec = ray_cluster_body("c", cluster)["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["autoscalerOptions"] == {
        "version": "v2",
        "upscalingMode": "Conservative",
        "idleTimeoutSeconds": 30,
        "image": "img",
    }


def test_escape_hatch_merges_on_top() -> None:
    cluster = ClusterSpec(
        image=IMAGE,
        worker_groups=[WorkerGroup("w", min_replicas=0, max_replicas=2)],
        overrides={"workerGroupSpecs": [{"groupName": "w", "maxReplicas": 9}], "headGroupSpec": {"serviceType": None}},
    )
    body = ray_cluster_body("c", cluster, overrides={"metadata": {"labels": {"team": "ml"}}})
    assert body["spec"]["workerGroupSpecs"][0]["maxReplicas"] == 9
    assert "serviceType" not in body["spec"]["headGroupSpec"]
    assert body["metadata"] == {"name": "c", "labels": {"team": "ml"}}


def test_job_new_cluster_and_runtime_env() -> None:
    job = JobSpec(
        entrypoint="python main.py",
        cluster=ClusterSpec(image=IMAGE),
        runtime_env={"pip": ["numpy"], "env_vars": {"A": "1"}},
        entrypoint_resources={"custom": 1},
        submitter_backoff_limit=2,
        job_id="fixed-id",
    )
    spec = ray_job_body("j", job, namespace="ns")["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    assert yaml.safe_load(spec["runtimeEnvYAML"]) == {"pip": ["numpy"], "env_vars": {"A": "1"}}
    assert spec["entrypointResources"] == '{"custom": 1}'
    assert spec["submitterConfig"] == {"backoffLimit": 2}
    assert spec["jobId"] == "fixed-id"
    assert spec["submissionMode"] == "K8sJobMode"


def test_job_existing_cluster() -> None:
    spec = ray_job_body("j", JobSpec(entrypoint="python main.py", cluster_name="shared"))["spec"]
    assert spec["clusterSelector"] == {"ray.io/cluster": "shared"}
    assert "rayClusterSpec" not in spec
    assert "shutdownAfterJobFinishes" not in spec


def test_service_serve_config_from_dict_and_text() -> None:
    config = {"applications": [{"name": "a", "import_path": "m:a", "route_prefix": "/"}]}
    from_dict = ray_service_body("s", ServiceSpec(serve_config=config, cluster=ClusterSpec(image=IMAGE)))
    text = "applications:\n- name: a\n  import_path: m:a\n  route_prefix: /\n"
    from_text = ray_service_body("s", ServiceSpec(serve_config=text, cluster=ClusterSpec(image=IMAGE)))
    assert yaml.safe_load(from_dict["spec"]["serveConfigV2"]) == yaml.safe_load(from_text["spec"]["serveConfigV2"])
    assert "upgradeStrategy" not in from_dict["spec"]


def test_raw_path_normalizes_representations() -> None:
    raw = """
apiVersion: ray.io/v1
kind: RayJob
metadata: {}
spec:
  entrypoint: python main.py
  runtimeEnvYAML: {pip: [numpy]}
  shutdownAfterJobFinishes: true
  rayClusterSpec:
    headGroupSpec:
      rayStartParams: {num-cpus: 0, block: true}
      template:
        metadata:
        spec:
          containers: [{name: ray-head, image: rayproject/ray:2.52.0}]
"""
    body = normalize_body(raw, name="my-job", namespace="ns")
    assert body["metadata"] == {"name": "my-job", "namespace": "ns"}
    assert body["spec"]["runtimeEnvYAML"] == "pip:\n- numpy\n"
    head = body["spec"]["rayClusterSpec"]["headGroupSpec"]
    assert head["rayStartParams"] == {"num-cpus": "0", "block": "true"}
    assert "metadata" not in head["template"]


def test_raw_path_picks_the_ray_document_of_a_multi_document_file(tmp_path: Any) -> None:
    file = tmp_path / "job.yaml"
    cluster = ray_cluster_body("c", ClusterSpec(image=IMAGE))
    file.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n" + yaml.safe_dump(cluster))
    assert normalize_body(file) == cluster
    assert normalize_body(str(file), kind="RayCluster") == cluster
