"""
KubeRayRunJobOperator in InteractiveMode, with the Kubernetes API and the Ray dashboard faked at the
HTTP boundary and a thread playing KubeRay: the task waits for ``Waiting``, submits the RayJob's own
entrypoint through the Jobs API (a local ``working_dir`` uploaded first), names the job in
``spec.jobId``, and a retry never submits twice.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_kuberay.operators import KubeRayRunJobOperator
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, resource_name
from airflow_provider_kuberay.tasks.identity import submission_id_for
from airflow_provider_kuberay.triggers.events import Outcome, RayJobEvent
from airflow_provider_kuberay.triggers.ray_job import RayJobTrigger
from tests.support.airflow_context import FakeTaskInstance, context_for
from tests.support.airflow_exceptions import TaskDeferred
from tests.support.fake_dashboard import FakeDashboard
from tests.support.fake_kube_api import FakeKubeApi

NS = "ml"
CLUSTER = ClusterSpec(image="rayproject/ray:2.52.0", ray_version="2.52.0", head=HeadGroup())
WAITING = {"jobDeploymentStatus": "Waiting", "rayClusterName": "rc-1", "jobStatus": "New"}


@pytest.fixture
def reachable(kube: FakeKubeApi, fake_dashboard: FakeDashboard, monkeypatch: pytest.MonkeyPatch) -> FakeDashboard:
    """The connection reaches every cluster's dashboard at the fake dashboard."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_KUBERAY_DEFAULT",
        kube.connection_json(namespace=NS, dashboard_access="url", dashboard_url=fake_dashboard.url),
    )
    return fake_dashboard


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    (tmp_path / "main.py").write_text("print('local code')\n")
    return tmp_path


def _operator(**kwargs: Any) -> KubeRayRunJobOperator:
    defaults: dict[str, Any] = {
        "task_id": "task",
        "entrypoint": "python main.py",
        "cluster": CLUSTER,
        "submission_mode": "InteractiveMode",
        "deferrable": False,
        "resync_interval": 0.2,
    }
    return KubeRayRunJobOperator(**{**defaults, **kwargs})


def _names(ti: FakeTaskInstance) -> tuple[str, str]:
    return (
        resource_name(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, kind="RayJob"),
        submission_id_for(ti.dag_id, ti.task_id, ti.run_id, ti.map_index),
    )


def _play_kuberay(kube: FakeKubeApi, dashboard: FakeDashboard, name: str, seen: list[str]) -> threading.Thread:
    """KubeRay's InteractiveMode: Waiting once the RayJob exists; Running, then Complete once spec.jobId names a job."""

    def run() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and kube.get("RayJob", NS, name) is None:
            time.sleep(0.05)
        seen.append(f"jobs before Waiting: {len(dashboard.jobs)}")
        kube.set_status("RayJob", NS, name, WAITING)
        while time.monotonic() < deadline:
            job_id = (kube.get("RayJob", NS, name) or {}).get("spec", {}).get("jobId")
            if job_id and job_id in dashboard.jobs:
                kube.set_status("RayJob", NS, name, {**WAITING, "jobDeploymentStatus": "Running", "jobId": job_id})
                dashboard.jobs[job_id].status = "SUCCEEDED"
                kube.set_status(
                    "RayJob",
                    NS,
                    name,
                    {**WAITING, "jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED", "jobId": job_id},
                )
                return
            time.sleep(0.05)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_the_task_submits_at_waiting_with_its_working_dir_uploaded(
    kube: FakeKubeApi, reachable: FakeDashboard, code_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ti = FakeTaskInstance()
    name, submission_id = _names(ti)
    seen: list[str] = []
    kuberay = _play_kuberay(kube, reachable, name, seen)
    op = _operator(runtime_env={"working_dir": str(code_dir), "env_vars": {"A": "1"}}, entrypoint_num_cpus=1)
    summary = op.execute(context_for(ti))
    kuberay.join(5)
    assert seen == ["jobs before Waiting: 0"]  # nothing was submitted before KubeRay said Waiting
    assert summary["job_id"] == submission_id
    assert summary["job_status"] == "SUCCEEDED"
    sent = reachable.last_submission
    assert sent["submission_id"] == submission_id
    assert sent["entrypoint"] == "python main.py"
    assert sent["entrypoint_num_cpus"] == 1
    assert sent["runtime_env"]["env_vars"] == {"A": "1"}
    assert sent["runtime_env"]["working_dir"].startswith("gcs://_ray_pkg_")
    assert list(reachable.packages) == [sent["runtime_env"]["working_dir"]]
    assert sent["metadata"]["airflow_try_number"] == "1"
    stored = kube.get("RayJob", NS, name)
    assert stored["spec"]["submissionMode"] == "InteractiveMode"
    assert stored["spec"]["jobId"] == submission_id
    assert [path for path in reachable.calls("POST") if path == "/api/jobs/"] == ["/api/jobs/"]
    assert f"Submitted Ray job {submission_id}" in capsys.readouterr().out


def test_a_retry_after_the_submission_follows_the_job_instead_of_submitting_twice(
    kube: FakeKubeApi, reachable: FakeDashboard, capsys: pytest.CaptureFixture[str]
) -> None:
    first = FakeTaskInstance()
    name, submission_id = _names(first)
    # Try 1 created the RayJob, submitted its job and died before naming it in spec.jobId.
    with pytest.raises(TaskDeferred):
        _operator(deferrable=True).execute(context_for(first))
    reachable.add_job(submission_id, status="RUNNING", metadata={"airflow_try_number": "1"})
    seen: list[str] = []
    kuberay = _play_kuberay(kube, reachable, name, seen)
    retry = FakeTaskInstance(run_id=first.run_id, try_number=2)
    summary = _operator().execute(context_for(retry))
    kuberay.join(5)
    assert summary["job_status"] == "SUCCEEDED"
    assert reachable.calls("POST") == ["/api/jobs/"]  # one refused submission: no second job
    assert reachable.calls("DELETE") == []
    assert "following it instead of submitting it again" in capsys.readouterr().out
    assert kube.get("RayJob", NS, name)["spec"]["jobId"] == submission_id


def test_deferred_the_task_waits_for_waiting_then_submits_and_defers_again(
    kube: FakeKubeApi, reachable: FakeDashboard
) -> None:
    ti = FakeTaskInstance()
    name, submission_id = _names(ti)
    with pytest.raises(TaskDeferred) as first:
        _operator(deferrable=True).execute(context_for(ti))
    assert isinstance(first.value.trigger, RayJobTrigger)
    assert first.value.trigger.serialize()[1]["until_waiting"] is True
    assert reachable.jobs == {}
    kube.set_status("RayJob", NS, name, WAITING)
    waiting = RayJobEvent(name=name, namespace=NS, outcome=Outcome.WAITING, ray_cluster_name="rc-1")
    resumed = _operator(deferrable=True)  # a fresh operator, as after a deferral
    with pytest.raises(TaskDeferred) as second:
        resumed.execute_complete(context_for(ti), waiting.to_payload())
    assert "until_waiting" not in second.value.trigger.serialize()[1]
    assert list(reachable.jobs) == [submission_id]
    assert kube.get("RayJob", NS, name)["spec"]["jobId"] == submission_id


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"entrypoint": " "}, "entrypoint"),
        ({"runtime_env": {"working_dir": "/no/such/dir"}}, "runtime_env.working_dir"),
        ({"job_overrides": {"jobId": "mine"}}, "spec.jobId"),
    ],
)
def test_bad_interactive_input_fails_before_any_api_call(
    kube: FakeKubeApi, reachable: FakeDashboard, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        _operator(**kwargs).execute(context_for())
    assert kube.calls() == []
    assert reachable.requests == []


def test_without_until_waiting_the_trigger_keeps_waiting_through_waiting(kube: FakeKubeApi) -> None:
    import asyncio

    body = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "rj"}, "spec": {}}
    kube.put_object("RayJob", body, NS)
    kube.set_status("RayJob", NS, "rj", WAITING)

    async def first(trigger: RayJobTrigger) -> dict[str, Any]:
        events = trigger.run()
        try:
            return dict((await events.__anext__()).payload)
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    common = {
        "name": "rj",
        "namespace": NS,
        "kuberay_conn_id": "kuberay_default",
        "resync_interval": 0.1,
        "stream_logs": False,
    }
    waiting = asyncio.run(first(RayJobTrigger(**common, until_waiting=True)))
    assert (waiting["outcome"], waiting["ray_cluster_name"]) == ("waiting", "rc-1")
    timeout = asyncio.run(first(RayJobTrigger(**common, deadline=time.time() + 0.5)))
    assert timeout["outcome"] == "timeout"
