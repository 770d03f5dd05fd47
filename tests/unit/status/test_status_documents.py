"""Recorded RayCluster / RayJob / RayService status documents and the verdict each must give."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_kuberay.status import Phase, Verdict, cluster_verdict, job_verdict, service_verdict
from airflow_provider_kuberay.status.job import DEPLOYMENT_STATUSES, JOB_STATUSES

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "status"
CASES = [
    {**doc, "file": file.name}
    for file in sorted(DATA_DIR.glob("*.yaml"))
    for doc in yaml.safe_load_all(file.read_text())
]
VERDICTS: dict[str, Callable[[Mapping[str, Any] | None], Verdict]] = {
    "RayCluster": cluster_verdict,
    "RayJob": job_verdict,
    "RayService": service_verdict,
}
crd_helper = sys.modules["kuberay_specs_crd_schema"]


def _of_kind(kind: str) -> list[dict[str, Any]]:
    return [case for case in CASES if case["object"]["kind"] == kind]


def test_at_least_thirty_documents() -> None:
    assert len(CASES) >= 30
    assert len({(c["file"], c["case"]) for c in CASES}) == len(CASES), "case names are unique per file"


@pytest.mark.parametrize("case", CASES, ids=[f"{c['file']}:{c['case']}" for c in CASES])
def test_verdict(case: dict[str, Any]) -> None:
    obj = case["object"]
    before = copy.deepcopy(obj)
    verdict = VERDICTS[obj["kind"]](obj)
    expect = case["expect"]
    assert verdict.phase is Phase(expect["phase"]), verdict.describe()
    assert verdict.reason == expect["reason"], verdict.describe()
    assert verdict.terminal is expect["terminal"]
    assert verdict.ready is expect.get("ready", False)
    if "message_contains" in expect:
        assert expect["message_contains"] in verdict.message
    if verdict.failed:
        assert verdict.reason, "a failure always carries a reason"
        assert verdict.message, "a failure always carries a message"
    assert obj == before, "interpretation never modifies the document"


@pytest.mark.parametrize("case", CASES, ids=[f"{c['file']}:{c['case']}" for c in CASES])
def test_recorded_status_fits_the_crd(case: dict[str, Any]) -> None:
    # Only the status is recorded faithfully; the partial specs some cases carry are left out.
    obj = {k: v for k, v in case["object"].items() if k != "spec"}
    assert crd_helper.schema_errors(obj) == []


def test_every_job_deployment_status_is_covered() -> None:
    seen = {case["object"].get("status", {}).get("jobDeploymentStatus") for case in _of_kind("RayJob")}
    assert set(DEPLOYMENT_STATUSES) <= seen


def test_every_job_status_is_covered() -> None:
    seen = {case["object"].get("status", {}).get("jobStatus") for case in _of_kind("RayJob")}
    assert set(JOB_STATUSES) <= seen


def test_every_failure_reason_is_covered() -> None:
    # JobFailedReason values of KubeRay v1.7.0.
    reasons = {
        "SubmissionFailed",
        "DeadlineExceeded",
        "PreRunningDeadlineExceeded",
        "AppFailed",
        "JobDeploymentStatusTransitionGracePeriodExceeded",
        "JobStatusCheckTimeoutExceeded",
        "ValidationFailed",
    }
    seen = {case["object"].get("status", {}).get("reason") for case in _of_kind("RayJob")}
    assert reasons <= seen


def test_success_only_on_complete_and_succeeded() -> None:
    for case in _of_kind("RayJob"):
        status = case["object"].get("status", {})
        if job_verdict(case["object"]).succeeded and "jobDeploymentStatus" in status:
            assert (status["jobDeploymentStatus"], status.get("jobStatus")) == ("Complete", "SUCCEEDED")


def test_service_mid_upgrade_documents_have_active_and_pending() -> None:
    upgrading = [c for c in _of_kind("RayService") if c["expect"]["phase"] == "UPGRADING"]
    both = [
        c
        for c in upgrading
        if c["object"]["status"].get("activeServiceStatus", {}).get("rayClusterName")
        and c["object"]["status"].get("pendingServiceStatus", {}).get("rayClusterName")
    ]
    assert len(both) >= 3
