"""
Shared test set-up. Airflow reads its configuration at import, so an isolated AIRFLOW_HOME on
SQLite is set here, before any test module imports Airflow.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="kuberay-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# dag.test() serializes DAGs from the DAGs folder: the examples, plus files tests write there.
DAGS_FOLDER = _AIRFLOW_HOME / "dags"
DAGS_FOLDER.mkdir()
(DAGS_FOLDER / "example_dags").symlink_to(ROOT / "example_dags", target_is_directory=True)
(DAGS_FOLDER / "migration_dags").symlink_to(ROOT / "docs" / "migration_dags", target_is_directory=True)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}"
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import pytest  # noqa: E402

from tests.support.fake_dashboard import FakeDashboard, running_fake_dashboard  # noqa: E402

# The harness fixture, here so the k8s and deploy tiers share one harness per session.
from tests.support.k8s_harness import k8s_cluster  # noqa: E402, F401
from tests.support.process_leaks import leftover_processes, tag_this_session  # noqa: E402

if TYPE_CHECKING:
    from devtools.local_ray import LocalRayHead

_PROCESS_TAG = tag_this_session()
# Ray's token authentication (RAY_AUTH_MODE=token) arrived in this release.
RAY_TOKEN_AUTH_SINCE = (2, 52)
# Per tier (tests/<tier>/...): when its first test started and its last ended, for the time budget.
_TIER_SPANS: dict[str, list[float]] = {}


def _tier(nodeid: str) -> str:
    parts = nodeid.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else "other"


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    now = time.monotonic()
    _TIER_SPANS.setdefault(_tier(nodeid), [now, now])


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    _TIER_SPANS[_tier(nodeid)][1] = time.monotonic()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Each tier's wall time (its session fixtures included): what README's time budget quotes."""
    if len(_TIER_SPANS) > 1:
        spans = ", ".join(f"{tier} {(end - start) / 60:.1f} min" for tier, (start, end) in _TIER_SPANS.items())
        terminalreporter.write_line(f"wall time by tier: {spans}")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With ``-n``: whole modules (and the whole deploy tier) per worker, in collection order."""
    from tests.support.parallel import ModuleAndTierScheduling

    config.option.loadscopereorder = False
    return ModuleAndTierScheduling(config, log)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any process a test started (Ray, the harness, its pods) outlived the session."""
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)
    if session.config.pluginmanager.has_plugin("dsession"):
        # xdist's controller starts nothing but its workers (which still run now, carrying its tag):
        # each worker checks the processes of its own tests.
        return
    leftovers = leftover_processes(_PROCESS_TAG)
    if leftovers:
        listing = "\n".join(f"  pid {pid}: {cmd[:200]}" for pid, cmd in sorted(leftovers.items()))
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"LEAK: processes started by the tests are still alive:\n{listing}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def fake_dashboard() -> Iterator[FakeDashboard]:
    """A fake Ray dashboard on loopback (the unit tier's HTTP boundary)."""
    yield from running_fake_dashboard()


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated metadata database in the session's AIRFLOW_HOME (the real-Airflow tier)."""
    import subprocess
    import sys

    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], check=True, capture_output=True)


@pytest.fixture(scope="session")
def token_ray_head() -> Iterator[LocalRayHead]:
    """A real local Ray head with token authentication on (``RAY_AUTH_MODE=token``; token in ``.auth_token``)."""
    import secrets

    from devtools.local_ray import LocalRayHead, default_ray_bin, ray_release

    release = ray_release(default_ray_bin())
    if release < RAY_TOKEN_AUTH_SINCE:
        # An older head ignores RAY_AUTH_MODE and answers everyone: nothing here could fail.
        pytest.skip(f"Ray {'.'.join(map(str, release))} has no token authentication (Ray 2.52+)")
    head = LocalRayHead(num_cpus=1, auth_token=secrets.token_hex(24)).start()
    try:
        yield head
    finally:
        head.stop()
        assert not head.session_pids(), "Ray processes were left behind"


@pytest.fixture(scope="session")
def ray_head() -> Iterator[LocalRayHead]:
    """One real local Ray head on 127.0.0.1 for the whole session, stopped by PID at the end."""
    from devtools.local_ray import LocalRayHead

    head = LocalRayHead(num_cpus=4).start()
    exposed = head.non_loopback_listeners()
    try:
        assert not exposed, f"the Ray head listens off loopback: {exposed}"
        yield head
    finally:
        head.stop()
        assert not head.session_pids(), "Ray processes were left behind"
