"""
Kueue queueing with the real Kueue controller (harness/kueue.py) and the real KubeRay operator: a
ClusterQueue with room for one job runs two queued RayJobs one after the other, and a job that can
never fit fails at its deadline naming its queue and Kueue's reason, as the least-privilege Role
(deploy/rbac-role.yaml) that reads it from the job's Workload. (Without Kueue, test_platform_params_on_k8s.py
checks that a queued job stays suspended.)
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from k8s_support import condition, kuberay_connection, kueue_workload, task_instance

from airflow_provider_kuberay.exceptions import RayJobFailedError
from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.operators import KubeRayRunJobOperator
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, PodOptions, Resources
from harness.podspec import STAND_IN_ANNOTATION as STAND_IN
from tests.support.airflow_context import context_for

pytestmark = pytest.mark.k8s

JOB_TIMEOUT = timedelta(seconds=150)  # each job's own deadline: both queued jobs run within it


def _cluster(cpu: int) -> ClusterSpec:
    """A head-only cluster of ``cpu`` CPUs (what Kueue counts, with the submitter's 0.5). Its head is a
    stand-in for the harness's local Ray head (harness/README.md): what is tested is Kueue's
    admission and KubeRay's resumption, and a real Ray pod would add ~40 s per job to the tier."""
    return ClusterSpec(
        image="rayproject/ray:2.52.0",
        ray_version="2.52.0",
        head=HeadGroup(resources=Resources(cpu=cpu, memory="1Gi"), pod=PodOptions(annotations={STAND_IN: "stand-in"})),
    )


def _job(task_id: str, queue: str, cpu: int = 1, **kwargs: Any) -> KubeRayRunJobOperator:
    return KubeRayRunJobOperator(
        task_id=task_id,
        entrypoint=f"python -c \"print('ran {task_id}')\"",
        cluster=_cluster(cpu),
        queue_name=queue,
        resync_interval=1,
        deferrable=False,
        **kwargs,
    )


def _time(cond: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(cond["lastTransitionTime"].replace("Z", "+00:00"))


def _delete(name: str, namespace: str) -> None:
    hook = KubeRayHook()
    hook.delete_object("RayJob", name, namespace)
    hook.wait_until_deleted("RayJob", name, namespace, timeout=90)


def test_two_jobs_with_quota_for_one_run_one_after_the_other(
    kuberay_conn: str, kueue_queue: str, k8s_cluster: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    tis = [task_instance(f"kueue_turn_{i}") for i in range(2)]
    ops = [_job(ti.task_id, kueue_queue, execution_timeout=JOB_TIMEOUT) for ti in tis]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(op.execute, context_for(ti)) for op, ti in zip(ops, tis, strict=True)]
        summaries = [f.result(timeout=JOB_TIMEOUT.total_seconds() + 30) for f in futures]
    names = [str(ti.xcoms["name"]) for ti in tis]
    try:
        assert [s["job_status"] for s in summaries] == ["SUCCEEDED", "SUCCEEDED"]
        workloads = [kueue_workload(k8s_cluster.api, kuberay_conn, name) for name in names]
        for wl in workloads:
            assert condition(wl, "Finished").get("reason") == "Succeeded", wl
        # Kueue admitted the later job only once the earlier one had finished and released its quota.
        (first, _), (second, second_name) = sorted(
            zip(workloads, names, strict=True), key=lambda pair: _time(condition(pair[0], "Admitted"))
        )
        assert _time(condition(second, "Admitted")) >= _time(condition(first, "Finished"))
        out = capsys.readouterr().out
        assert f"RayJob {kuberay_conn}/{second_name} is queued in Kueue LocalQueue '{kueue_queue}'" in out
        for ti in tis:
            assert f"[ray] ran {ti.task_id}" in out
    finally:
        for name in names:
            _delete(name, kuberay_conn)


def test_a_job_that_can_never_fit_fails_at_its_deadline_naming_the_queue(
    kuberay_conn: str,
    kueue_queue: str,
    k8s_cluster: Any,
    readme_role_kubeconfig: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KUBERAY_DEFAULT", kuberay_connection(readme_role_kubeconfig, kuberay_conn))
    # A head that asks for more CPUs than the ClusterQueue has at all.
    ti = task_instance("kueue_never_fits")
    op = _job(ti.task_id, kueue_queue, cpu=64, stream_logs=False, execution_timeout=timedelta(seconds=15))
    seen: dict[str, Any] = {}
    stop = threading.Event()

    def watch_kueue() -> None:
        # Kueue's verdict lives on the job's Workload, which goes with the RayJob at the deadline.
        while not stop.is_set():
            name = ti.xcoms.get("name")
            wl = kueue_workload(k8s_cluster.api, kuberay_conn, str(name)) if name else None
            reserved = condition(wl, "QuotaReserved")
            if reserved.get("status") == "False" and reserved.get("message"):
                seen.update(reserved)
                return
            time.sleep(0.5)

    watcher = threading.Thread(target=watch_kueue, daemon=True)
    watcher.start()
    try:
        with pytest.raises(RayJobFailedError) as info:
            op.execute(context_for(ti))
    finally:
        stop.set()
        watcher.join(timeout=5)
    name = str(ti.xcoms["name"])
    text = str(info.value)
    assert f"still queued in Kueue LocalQueue '{kueue_queue}'" in text
    assert f"Deleted RayJob {kuberay_conn}/{name}" in text
    # Kueue itself held it: its Workload had no quota reserved, for lack of CPU in the queue; the task
    # log and the failure both said so in Kueue's words.
    assert "insufficient quota for cpu" in seen.get("message", ""), seen
    kueue_says = f"queued in Kueue LocalQueue '{kueue_queue}': {seen['reason']}: couldn't assign flavors"
    assert f"still {kueue_says}" in text
    assert "insufficient quota for cpu" in text
    queued = [
        line for line in capsys.readouterr().out.splitlines() if f"RayJob {kuberay_conn}/{name} is queued" in line
    ]
    assert any(kueue_says in line and "insufficient quota for cpu" in line for line in queued), queued
    print("the failure:", text)  # pytest -rP shows Kueue's words
    KubeRayHook().wait_until_deleted("RayJob", name, kuberay_conn, timeout=90)
