"""Verdict helpers, extracted facts (job info, cluster endpoints, Serve progress), odd inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_kuberay.status import (
    Phase,
    Verdict,
    cluster_info,
    cluster_verdict,
    job_info,
    job_verdict,
    service_progress,
    service_verdict,
)

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "status"


def _case(file: str, name: str) -> dict[str, Any]:
    for doc in yaml.safe_load_all((DATA_DIR / file).read_text()):
        if doc["case"] == name:
            return dict(doc["object"])
    raise KeyError(name)


def test_verdict_properties() -> None:
    failed = Verdict(Phase.FAILED, "AppFailed", "boom")
    assert failed.terminal
    assert failed.failed
    assert not failed.succeeded
    assert failed.describe() == "FAILED (AppFailed): boom"
    assert Verdict(Phase.SUCCEEDED).terminal
    assert Verdict(Phase.SERVING).ready
    assert Verdict(Phase.READY).ready
    for phase in (Phase.PENDING, Phase.RUNNING, Phase.SUSPENDED, Phase.UPGRADING, Phase.READY, Phase.SERVING):
        assert not Verdict(phase).terminal
    assert Phase("SERVING") is Phase.SERVING


def test_verdict_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Verdict(Phase.PENDING).phase = Phase.FAILED  # type: ignore[misc]


def test_job_info() -> None:
    info = job_info(_case("rayjob.yaml", "complete-succeeded"))
    assert info.job_id == "train-x7k2p"
    assert info.ray_cluster_name == "train-q8w4r"
    assert info.dashboard_url == "train-q8w4r-head-svc.ml.svc.cluster.local:8265"
    assert (info.job_status, info.job_deployment_status) == ("SUCCEEDED", "Complete")
    assert (info.succeeded_attempts, info.failed_attempts) == (1, 0)
    assert info.end_time == "2026-11-26T10:05:00Z"


def test_cluster_info() -> None:
    info = cluster_info(_case("raycluster.yaml", "ready"))
    assert info.head_service_name == "shared-head-svc"
    assert info.head_pod_ip == "10.0.0.12"
    assert info.endpoints["dashboard"] == "8265"
    assert (info.ready_worker_replicas, info.desired_worker_replicas) == (2, 2)


def test_service_progress_mid_incremental_upgrade() -> None:
    progress = service_progress(_case("rayservice.yaml", "mid-upgrade-incremental-traffic-shift"))
    assert progress.active.cluster_name == "fruit-9xk2m"
    assert progress.pending.cluster_name == "fruit-4hq7z"
    assert (progress.active.traffic_routed_percent, progress.pending.traffic_routed_percent) == (70, 30)
    assert (progress.active.target_capacity, progress.pending.target_capacity) == (70, 40)
    assert progress.active.all_running
    assert progress.pending.all_running


def test_service_progress_per_application() -> None:
    progress = service_progress(_case("rayservice.yaml", "serving"))
    apps = {app.name: app for app in progress.active.applications}
    assert set(apps) == {"fruit_app", "math_app"}
    assert apps["fruit_app"].deployments == {"FruitMarket": "HEALTHY", "MangoStand": "HEALTHY"}
    assert not progress.pending.exists
    assert progress.num_serve_endpoints == 2


@pytest.mark.parametrize("interpret", [cluster_verdict, job_verdict, service_verdict])
@pytest.mark.parametrize(
    "obj",
    [
        None,
        {},
        {"status": None},
        {"status": "garbage"},
        {"status": {"conditions": "not-a-list"}},
        {"status": {"conditions": [None, {"type": ""}, {"status": "True"}]}},
        {"metadata": "odd", "status": {"observedGeneration": "x"}},
    ],
)
def test_odd_documents_are_pending_not_errors(interpret: Any, obj: Any) -> None:
    verdict = interpret(obj)
    assert verdict.phase is Phase.PENDING
    assert not verdict.terminal


def test_conditions_win_over_deprecated_state() -> None:
    obj = _case("raycluster.yaml", "provisioned-but-head-restarting-state-still-ready")
    assert obj["status"]["state"] == "ready"
    assert cluster_verdict(obj).phase is Phase.PENDING


def test_unknown_condition_status_is_not_true() -> None:
    obj = _case("raycluster.yaml", "ready")
    obj["status"]["conditions"][0]["status"] = "Unknown"
    assert cluster_verdict(obj).phase is Phase.PENDING
