"""
The local Ray head launcher (devtools/local_ray.py), started from a shell whose PATH lacks the
project's venv (``.venv/bin/python -m pytest``, an Airflow deployment): job entrypoints
``python ...`` still find the Python that has Ray, because the launcher puts its bin first.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from devtools.local_ray import LocalRayHead, default_ray_bin

pytestmark = pytest.mark.ray

BARE_PATH = "/usr/local/bin:/usr/bin:/bin"  # a system PATH: no venv on it


def _python_without_ray(path: str) -> bool:
    """Whether ``python`` on ``path`` is missing or has no Ray (what a job would get without the fix)."""
    python = shutil.which("python", path=path)
    return python is None or subprocess.run([python, "-c", "import ray"], capture_output=True).returncode != 0


def test_job_entrypoint_python_has_ray_when_the_callers_path_lacks_the_venv(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook

    assert _python_without_ray(BARE_PATH), "the premise: `python` on the bare PATH must lack Ray"
    # The Ray beside this Python, else the one on PATH (a matrix cell's Ray lives in a venv of its own).
    ray_bin = default_ray_bin()
    monkeypatch.setenv("PATH", BARE_PATH)
    with LocalRayHead(num_cpus=1, ray_bin=ray_bin) as head:
        hook = RayDashboardHook(None, dashboard_url=head.dashboard_url)
        entrypoint = "python -c \"import ray, sys; print('ray', ray.__version__, sys.executable)\""
        job = hook.submit_job(entrypoint=entrypoint, submission_id=f"launcher-{uuid.uuid4().hex[:8]}")
        deadline = time.monotonic() + 120
        while (status := hook.get_job_info(job)["status"]) not in {"SUCCEEDED", "FAILED", "STOPPED"}:
            assert time.monotonic() < deadline, f"the job is still {status}"
            time.sleep(0.5)
        logs = hook.get_job_logs(job)
    assert status == "SUCCEEDED", logs
    assert f"ray {_ray_version(ray_bin)} {ray_bin.parent}" in logs, logs
    if Path(sys.executable).with_name("ray").exists():
        assert ray_bin.parent == Path(sys.executable).parent


def _ray_version(ray_bin: Path) -> str:
    python = str(ray_bin.with_name("python"))
    return subprocess.run(
        [python, "-c", "import ray; print(ray.__version__)"], capture_output=True, text=True
    ).stdout.strip()
