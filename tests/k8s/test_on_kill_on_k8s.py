"""
Killing a deferred task on the real control plane (Airflow 3.3+ calls the trigger's ``on_kill`` on
mark failed, mark success and clear): the RayJob trigger deletes the RayJob its task created, and
KubeRay stops its Ray job on the shared cluster; the RayCluster trigger deletes the cluster its task
was waiting for; the shared cluster and other tasks' objects are left alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from k8s_support import GROUP, VERSION, provider_cluster, task_instance, wait_for

from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
from airflow_provider_kuberay.operators import KubeRayCreateClusterOperator, KubeRayRunJobOperator
from airflow_provider_kuberay.triggers import RayClusterReadyTrigger, RayJobTrigger
from tests.support.airflow_context import context_for
from tests.support.airflow_exceptions import TaskDeferred
from tests.support.user_kill import kill_as_a_user_would

pytestmark = pytest.mark.k8s


def _deferred(operator: Any, ti: Any) -> Any:
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context_for(ti))
    return deferred.value.trigger


def _find(custom: Any, namespace: str, plural: str, name: str) -> dict[str, Any] | None:
    from kubernetes.client.exceptions import ApiException

    try:
        return dict(custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name))
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def test_killed_rayjob_task_deletes_its_rayjob_and_kuberay_stops_the_ray_job(
    kuberay_conn: str, shared_cluster: str, custom: Any
) -> None:
    ti = task_instance("killed_rayjob")
    trigger = _deferred(
        KubeRayRunJobOperator(
            task_id=ti.task_id,
            entrypoint="python -c \"import time; print('started', flush=True); time.sleep(600)\"",
            cluster_name=shared_cluster,
            deferrable=True,
        ),
        ti,
    )
    assert isinstance(trigger, RayJobTrigger)
    name = trigger.name

    def running_job_id() -> str | None:
        status = (_find(custom, kuberay_conn, "rayjobs", name) or {}).get("status") or {}
        return status.get("jobId") if status.get("jobStatus") == "RUNNING" else None

    job_id = wait_for("the RayJob's Ray job to run", running_job_id, timeout=180)

    kill_as_a_user_would(trigger, running_for=1.0)

    wait_for("the RayJob to be gone", lambda: _find(custom, kuberay_conn, "rayjobs", name) is None, timeout=60)
    dashboard = RayDashboardHook(None, endpoint=KubeRayHook().dashboard_endpoint(shared_cluster, kuberay_conn))
    wait_for(
        "KubeRay to stop the deleted RayJob's Ray job",
        lambda: dashboard.get_job_status(str(job_id)) in ("STOPPED", "FAILED"),
        timeout=60,
    )
    assert _find(custom, kuberay_conn, "rayclusters", shared_cluster) is not None  # the shared cluster stays


def test_killed_cluster_task_deletes_the_unready_cluster_and_nothing_else(kuberay_conn: str, custom: Any) -> None:
    # Suspended: the cluster cannot become ready while the task is deferred on it.
    waiting = _deferred(
        KubeRayCreateClusterOperator(
            task_id="killed_cluster", cluster=provider_cluster(), overrides={"spec": {"suspend": True}}, deferrable=True
        ),
        task_instance("killed_cluster"),
    )
    bystander = _deferred(
        KubeRayCreateClusterOperator(
            task_id="bystander", cluster=provider_cluster(), overrides={"spec": {"suspend": True}}, deferrable=True
        ),
        task_instance("bystander"),
    )
    assert isinstance(waiting, RayClusterReadyTrigger)
    try:
        # Another task's trigger, pointed at this cluster, stops nothing: the cluster is not its task's.
        _, kwargs = bystander.serialize()
        kill_as_a_user_would(RayClusterReadyTrigger(**{**kwargs, "name": waiting.name}))
        assert _find(custom, kuberay_conn, "rayclusters", waiting.name) is not None

        kill_as_a_user_would(waiting)

        gone = lambda: _find(custom, kuberay_conn, "rayclusters", waiting.name) is None  # noqa: E731
        wait_for("the killed task's RayCluster to be gone", gone, timeout=60)
        assert _find(custom, kuberay_conn, "rayclusters", bystander.name) is not None
    finally:
        KubeRayHook().delete_object("RayCluster", bystander.name, kuberay_conn)
