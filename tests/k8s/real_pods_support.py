"""Helpers for the tests of pods that really run on the harness: small clusters, pods, processes."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from typing import Any

from k8s_support import task_instance

from tests.support.airflow_context import context_for

IMAGE, RAY_VERSION = "rayproject/ray:2.52.0", "2.52.0"
# Ray's own memory sizes come from these limits (KubeRay writes them into `ray start`): keep them
# small, the machine is 2 cores and 24 GiB for everything.
HEAD_MEMORY, WORKER_MEMORY = "1Gi", "768Mi"
# Every wait in these tests has a deadline: a cluster is ready, and a job done, within these.
CLUSTER_DEADLINE = timedelta(seconds=300)
JOB_DEADLINE = timedelta(seconds=300)
# A job's line naming the node it ran on: "ran-on <node ip> <node id>".
RAN_ON = re.compile(r"ran-on (\S+) ([0-9a-f]{20,})")
WHERE = (
    'python -c "import ray; ray.init(); ctx = ray.get_runtime_context(); '
    "print('ran-on', ray.util.get_node_ip_address(), ctx.get_node_id())\""
)


def head_only(cpu: str = "1") -> Any:
    from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, Resources

    return ClusterSpec(
        image=IMAGE, ray_version=RAY_VERSION, head=HeadGroup(resources=Resources(cpu=cpu, memory=HEAD_MEMORY))
    )


def create_cluster(spec: Any, task_id: str) -> dict[str, Any]:
    from airflow_provider_kuberay.operators import KubeRayCreateClusterOperator

    return dict(
        KubeRayCreateClusterOperator(
            task_id=task_id,
            cluster=spec,
            deferrable=False,
            resync_interval=1.0,
            execution_timeout=CLUSTER_DEADLINE,
        ).execute(context_for(task_instance(task_id)))
    )


def delete_cluster(name: str) -> None:
    from airflow_provider_kuberay.operators import KubeRayDeleteClusterOperator

    KubeRayDeleteClusterOperator(task_id=f"delete-{name}", cluster_name=name, timeout_seconds=180).execute(
        context_for()
    )


def pods_of(core: Any, namespace: str, cluster: str, node_type: str | None = None) -> list[Any]:
    selector = f"ray.io/cluster={cluster}" + (f",ray.io/node-type={node_type}" if node_type else "")
    return list(core.list_namespaced_pod(namespace, label_selector=selector).items)


def head_pod(core: Any, namespace: str, cluster: str) -> Any:
    (pod,) = pods_of(core, namespace, cluster, "head")
    return pod


def container_pid(pod: Any, container: str | None = None) -> int:
    """The host PID of a container's process (the harness kubelet's containerID is harness://UID/NAME)."""
    from harness.pods import find_container_pid

    name = container or pod.spec.containers[0].name
    pid = find_container_pid(pod.metadata.uid, name)
    assert pid is not None, f"no process for {pod.metadata.name}/{name}"
    return pid


def alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")
