"""
Restarts on the real control plane (issue 8, parts 3 and 4).

Triggerer restart: each trigger is cancelled mid-wait and ``cleanup()`` runs, as when the triggerer
restarts; nothing is deleted or changed; the trigger rebuilt from its stored form in a new event loop
resumes and fires the right event. Worker crash: the task's worker process is SIGKILLed right after
it created its RayJob / RayCluster / RayService; the retry (try 2, same task instance) adopts it,
succeeds, and exactly one object of that kind carries the task's labels.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from k8s_support import GROUP, VERSION, provider_cluster, raycluster_spec, serve_config, task_instance, wait_for
from restart_support import (
    PLURALS,
    cancel_mid_wait,
    first_event,
    kill_worker_after_create,
    owned,
    rebuilt,
    retry,
    unchanged,
)

from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.operators import (
    KubeRayCreateClusterOperator,
    KubeRayDeleteClusterOperator,
    KubeRayDeleteServiceOperator,
    KubeRayDeployServiceOperator,
    KubeRayRunJobOperator,
)
from airflow_provider_kuberay.triggers import RayClusterReadyTrigger, RayDashboardJobTrigger, RayJobTrigger
from airflow_provider_kuberay.triggers.ray_service import RayServiceTrigger
from tests.support.airflow_context import context_for

pytestmark = pytest.mark.k8s


def _reader(custom: Any, kind: str, namespace: str, name: str) -> Any:
    return lambda: custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name)


def _reconciled(obj: dict[str, Any]) -> dict[str, Any] | None:
    observed = (obj.get("status") or {}).get("observedGeneration")
    return obj if observed is not None and observed == obj["metadata"]["generation"] else None


def _needs_serve(k8s_cluster: Any) -> None:
    if not k8s_cluster.harness:
        pytest.skip("deploys the harness's own Serve app (harness_echo)")
    from devtools.local_ray import has_serve

    if not has_serve(k8s_cluster.ray_bin):
        pytest.skip("RayService NOT RUN: Ray Serve is not installed (add ray[serve] to the venv)")


# --- Triggerer restart -------------------------------------------------------------------------


def test_rayjob_trigger_survives_a_triggerer_restart(kuberay_conn: str, shared_cluster: str, custom: Any) -> None:
    ti = task_instance("trigger_restart_job")
    name = KubeRayRunJobOperator(
        task_id=ti.task_id,
        entrypoint="python -c \"import time; time.sleep(6); print('done')\"",
        cluster_name=shared_cluster,
        wait_for_completion=False,
    ).execute(context_for(ti))
    read = _reader(custom, "RayJob", kuberay_conn, str(name))
    wait_for("the RayJob to run", lambda: (read().get("status") or {}).get("jobDeploymentStatus") == "Running")
    before = read()
    trigger = RayJobTrigger(
        name=str(name), namespace=kuberay_conn, kuberay_conn_id="kuberay_default", resync_interval=1
    )

    cancel_mid_wait(trigger, after=2.0)

    unchanged(read, before)
    assert (read()["status"] or {}).get("jobDeploymentStatus") == "Running"
    event = first_event(rebuilt(trigger))
    assert event["outcome"] == "succeeded", event
    assert event["job_status"] == "SUCCEEDED"
    assert event["job_id"] == before["status"]["jobId"]  # the same Ray job, not a new one


def test_cluster_trigger_survives_a_triggerer_restart(kuberay_conn: str, custom: Any) -> None:
    ti = task_instance("trigger_restart_cluster")
    # Suspended: the cluster cannot become ready while the first trigger waits.
    created = KubeRayCreateClusterOperator(
        task_id=ti.task_id,
        cluster=provider_cluster(),
        overrides={"spec": {"suspend": True}},
        wait_until_ready=False,
    ).execute(context_for(ti))
    name = created["cluster_name"]
    read = _reader(custom, "RayCluster", kuberay_conn, name)
    try:
        before = read()
        trigger = RayClusterReadyTrigger(
            name=name, namespace=kuberay_conn, kuberay_conn_id="kuberay_default", resync_interval=1
        )

        cancel_mid_wait(trigger, after=2.0)

        unchanged(read, before)
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, kuberay_conn, "rayclusters", name, {"spec": {"suspend": False}}
        )
        event = first_event(rebuilt(trigger))
        assert event["outcome"] == "succeeded", event
        assert event["head_service_name"] == f"{name}-head-svc"
    finally:
        KubeRayDeleteClusterOperator(task_id="cleanup", cluster_name=name, timeout_seconds=120).execute(context_for())


def test_service_trigger_survives_a_triggerer_restart(k8s_cluster: Any, kuberay_conn: str, custom: Any) -> None:
    _needs_serve(k8s_cluster)
    name = f"restart-svc-{uuid.uuid4().hex[:5]}"
    body = {
        "metadata": {"name": name},
        "spec": {"serveConfigV2": json.dumps(serve_config("v1")), "rayClusterConfig": raycluster_spec(0)},
    }
    ti = task_instance("trigger_restart_service")
    KubeRayDeployServiceOperator(task_id=ti.task_id, service=body, wait_until_serving=False).execute(context_for(ti))
    read = _reader(custom, "RayService", kuberay_conn, name)
    try:
        # KubeRay writes its defaults into the spec in its first reconcile: compare from there on.
        before = wait_for("KubeRay to reconcile the RayService", lambda: _reconciled(read()))
        # Waiting for the upgrade to generation 2 (not made yet): the first trigger cannot fire.
        trigger = RayServiceTrigger(
            name=name,
            namespace=kuberay_conn,
            kuberay_conn_id="kuberay_default",
            resync_interval=1,
            generation=before["metadata"]["generation"] + 1,
            applications=["echo"],
            carry={"change": "serve_config"},
        )

        cancel_mid_wait(trigger, after=2.0)

        unchanged(read, before)
        patch = {"spec": {"serveConfigV2": json.dumps(serve_config("v2"))}}
        custom.patch_namespaced_custom_object(GROUP, VERSION, kuberay_conn, "rayservices", name, patch)
        event = first_event(rebuilt(trigger))
        assert event["outcome"] == "succeeded", event
        assert event["applications"] == {"echo": "RUNNING"}
        assert event["carry"] == {"change": "serve_config"}  # the operator's state survived the restart
    finally:
        KubeRayDeleteServiceOperator(task_id="cleanup", service_name=name, timeout_seconds=120).execute(context_for())


def test_jobs_api_trigger_survives_a_triggerer_restart(kuberay_conn: str, shared_cluster: str) -> None:
    from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook

    dashboard = RayDashboardHook(None, endpoint=KubeRayHook().dashboard_endpoint(shared_cluster, kuberay_conn))
    submission_id = dashboard.submit_job(
        entrypoint="python -c \"import time; time.sleep(6); print('done')\"",
        submission_id=f"restart-{uuid.uuid4().hex[:6]}",
    )
    trigger = RayDashboardJobTrigger(
        submission_id=submission_id,
        cluster_name=shared_cluster,
        namespace=kuberay_conn,
        kuberay_conn_id="kuberay_default",
        poll_interval=1,
    )

    cancel_mid_wait(trigger, after=2.0)

    assert dashboard.get_job_status(submission_id) in ("PENDING", "RUNNING")  # not stopped
    event = first_event(rebuilt(trigger))
    assert event["outcome"] == "succeeded", event
    assert event["status"] == "SUCCEEDED"


# --- Worker crash and retry --------------------------------------------------------------------


def _crash_then_retry(custom: Any, kind: str, namespace: str, task_id: str, tmp_path: Path) -> tuple[Any, str]:
    run_id = f"run-{uuid.uuid4().hex[:6]}"
    first = kill_worker_after_create(custom, kind, namespace, task_id, run_id, tmp_path / "worker.log")
    result = retry(kind, task_id, run_id)
    objects = owned(custom, kind, namespace, task_id, run_id)
    assert [o["metadata"]["uid"] for o in objects] == [first["metadata"]["uid"]], "not adopted, or a second one"
    assert objects[0]["metadata"]["labels"]["kuberay.airflow.apache.org/try-number"] == "1"  # created by try 1
    return result, first["metadata"]["name"]


def test_a_killed_worker_s_rayjob_is_adopted_by_the_retry(
    kuberay_conn: str, shared_cluster: str, custom: Any, tmp_path: Path
) -> None:
    summary, name = _crash_then_retry(custom, "RayJob", kuberay_conn, "crash_job", tmp_path)
    assert summary["name"] == name
    assert summary["job_status"] == "SUCCEEDED"


def test_a_killed_worker_s_raycluster_is_adopted_by_the_retry(kuberay_conn: str, custom: Any, tmp_path: Path) -> None:
    result, name = _crash_then_retry(custom, "RayCluster", kuberay_conn, "crash_cluster", tmp_path)
    try:
        assert result["cluster_name"] == name
        assert result["dashboard_url"]
    finally:
        KubeRayDeleteClusterOperator(task_id="cleanup", cluster_name=name, timeout_seconds=120).execute(context_for())


def test_a_killed_worker_s_rayservice_is_adopted_by_the_retry(
    k8s_cluster: Any, kuberay_conn: str, custom: Any, tmp_path: Path
) -> None:
    _needs_serve(k8s_cluster)
    result, name = _crash_then_retry(custom, "RayService", kuberay_conn, "crash_service", tmp_path)
    try:
        assert result["service_name"] == name
        assert result["change"] == "unchanged"  # followed, not patched or re-created
        assert result["applications"] == {"echo": "RUNNING"}
    finally:
        KubeRayDeleteServiceOperator(task_id="cleanup", service_name=name, timeout_seconds=120).execute(context_for())
