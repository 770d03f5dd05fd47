"""
The deploy tier's session fixture: one real Airflow deployment (see ``deployment.py``) for every
test under tests/deploy, pointed at the session's local Ray head through a ``ray_dashboard``
connection created over REST. The tier never skips: what it cannot start fails the tests, with why
(except the RayJob takeover test, which needs the Kubernetes harness and skips with the k8s tier).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deployment import AirflowDeployment
from tests.deploy.runs import EXAMPLE_DAG, FinishedRun, run_to_end

_running: list[AirflowDeployment] = []
_failed_tests: list[str] = []


@pytest.fixture(scope="session")
def deployment(ray_head: Any) -> Iterator[AirflowDeployment]:
    # Not pytest's tmp_path: the Postgres service user must traverse every parent of its data dir.
    workdir = Path(tempfile.mkdtemp(prefix="kuberay-deploy-"))
    started = AirflowDeployment(workdir)
    try:
        started.start()
        started.rest.request(
            "POST",
            "/connections",
            expect=201,
            json={
                "connection_id": "ray_dashboard_default",
                "conn_type": "ray_dashboard",
                "host": ray_head.dashboard_url,
            },
        )
    except BaseException as err:
        logs = started.process_logs()
        started.stop()
        raise RuntimeError(f"the Airflow deployment did not start: {err}\n{logs}\n(kept in {workdir})") from err
    _running.append(started)
    failed_before = len(_failed_tests)
    try:
        yield started
    finally:
        _running.remove(started)
        started.stop()
        if len(_failed_tests) == failed_before:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"\nthe deploy tier failed: its logs and database are kept in {workdir}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """On a failure, attach every component's output to the report (it is printed with the failure)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and not getattr(report, "wasxfail", None) and _running:
        _failed_tests.append(item.nodeid)
        report.sections.append(("Airflow deployment logs", _running[0].process_logs()))


@pytest.fixture(scope="session")
def example_run(deployment: AirflowDeployment) -> FinishedRun:
    """One run of the repo's example DAG, triggered over REST and waited for (shared by the REST and UI tests)."""
    return run_to_end(deployment, EXAMPLE_DAG)
