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
    reruns: int = 0


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
            env["KUBERAY_HARNESS_RAY"] = str(head / "bin" / "ray")  # the k8s harness's Ray "pods"
        if cell.kuberay is not None:
            env.update(_kuberay_harness(venv, cell.kuberay, env, log))
    except (RuntimeError, subprocess.CalledProcessError) as err:
        return Outcome(cell, ok=False, seconds=time.monotonic() - started, note=f"environment: {err}")
    workers = ["-n", str(cell.workers)] if cell.workers > 1 else []
    first = _pytest(venv, [*workers, *cell.tests], logs / f"{cell.name}.xml", env, log)
    retried = _failed_ids(logs / f"{cell.name}.xml")
    final = first
    if first != 0 and retried:
        # The timing checks of the unit tier (and a Ray head's 30 s start) flake on a loaded machine:
        # what failed runs once more, alone, as one would by hand; the table says how many.
        final = _pytest(venv, retried, logs / f"{cell.name}.rerun.xml", env, log)
    passed, failed, skipped = _counts(logs / f"{cell.name}.xml")
    if final == 0 and first != 0:
        passed, failed = passed + failed, 0
    note = f"{len(retried)} passed only on a rerun" if final == 0 and first != 0 else ""
    return Outcome(
        cell,
        ok=final == 0,
        passed=passed,
        failed=failed,
        skipped=skipped,
        seconds=time.monotonic() - started,
        airflow=_installed(venv, "apache-airflow"),
        note=note if final == 0 else f"pytest exit {final}; see {log}",
        reruns=len(retried) if first != 0 else 0,
    )


def _kuberay_harness(venv: Path, version: str, env: dict[str, str], log: Path) -> dict[str, str]:
    """Build (or reuse) the release's operator; the harness then runs it with the release's own CRDs."""
    from harness.build import release_crd_dir

    crds = release_crd_dir(version)
    if crds is None:
        raise RuntimeError(f"KubeRay {version}'s CRDs: no Go toolchain, or the Go module proxy does not serve it")
    harness_env = {"KUBERAY_OPERATOR_VERSION": version, "KUBERAY_CRD_DIR": str(crds)}
    build = [str(venv / "bin" / "python"), "-m", "harness.build", "--only", "operator"]
    with log.open("a") as out:
        out.write(f"$ {' '.join(build)}  ({harness_env})\n")
        out.flush()
        done = subprocess.run(build, cwd=ROOT, env={**env, **harness_env}, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"building the KubeRay {version} operator failed; see {log}")
    return harness_env


def _pytest(venv: Path, selection: list[str], report: Path, env: dict[str, str], log: Path) -> int:
    report.unlink(missing_ok=True)
    command = [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider"]
    command += [f"--junitxml={report}", *selection]
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        return subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=False).returncode


def _failed_ids(report: Path) -> list[str]:
    """pytest node ids of the tests that failed or errored, from a JUnit XML report."""
    if not report.exists():
        return []
    ids = []
    for case in ET.parse(report).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            ids.append(_node_id(case.get("classname", ""), case.get("name", "")))
    return sorted(set(ids))


def _node_id(classname: str, name: str) -> str:
    """``tests.unit.test_x.TestY`` + ``test_z`` → ``tests/unit/test_x.py::TestY::test_z``."""
    if not classname:  # a module that failed to collect: its dotted name is all there is
        return str(Path(*name.split(".")).with_suffix(".py"))
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        module = Path(*parts[:cut]).with_suffix(".py")
        if (ROOT / module).exists():
            return "::".join([str(module), *parts[cut:], name])
    return f"{classname}::{name}"


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
