"""Run one cell: build its venvs, run its pytest selection, read the counts from the JUnit report."""

from __future__ import annotations

import os
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from devtools.matrix.cells import Cell
from devtools.matrix.envs import MATRIX_DIR, ROOT, ray_venv, test_venv

# The real-Ray tier checks the head it got against this (tests/ray/test_ray_head_version.py).
RAY_VERSION_ENV = "KUBERAY_TEST_RAY_VERSION"


@dataclass(frozen=True)
class Outcome:
    """What a cell's run came to."""

    cell: Cell
    ok: bool
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    airflow: str = "-"
    note: str = ""


def run_cell(cell: Cell) -> Outcome:
    logs = MATRIX_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{cell.name}.log"
    log.write_text("")
    started = time.monotonic()
    env = {**os.environ, **cell.env}
    env.pop("VIRTUAL_ENV", None)
    try:
        venv = test_venv(cell, log)
        if cell.ray is not None:
            # The session fixture starts the `ray` found first on PATH (the test venv has none).
            head = ray_venv(cell.ray, log)
            env["PATH"] = f"{head / 'bin'}{os.pathsep}{env.get('PATH', '')}"
            env[RAY_VERSION_ENV] = cell.ray.version
    except (RuntimeError, subprocess.CalledProcessError) as err:
        return Outcome(cell, ok=False, seconds=time.monotonic() - started, note=f"environment: {err}")
    report = logs / f"{cell.name}.xml"
    report.unlink(missing_ok=True)
    command = [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider"]
    command += [f"--junitxml={report}", *cell.tests]
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        code = subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    outcome = _counts(report)
    return Outcome(
        cell,
        ok=code == 0,
        passed=outcome[0],
        failed=outcome[1],
        skipped=outcome[2],
        seconds=time.monotonic() - started,
        airflow=_installed(venv, "apache-airflow"),
        note="" if code == 0 else f"pytest exit {code}; see {log}",
    )


def _counts(report: Path) -> tuple[int, int, int]:
    """(passed, failed or errored, skipped) from a JUnit XML report."""
    if not report.exists():
        return (0, 0, 0)
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = sum(int(suite.get("tests", 0)) for suite in suites)
    failed = sum(int(suite.get("failures", 0)) + int(suite.get("errors", 0)) for suite in suites)
    skipped = sum(int(suite.get("skipped", 0)) for suite in suites)
    return (total - failed - skipped, failed, skipped)


def _installed(venv: Path, distribution: str) -> str:
    code = f"from importlib.metadata import version; print(version({distribution!r}))"
    done = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "-"
