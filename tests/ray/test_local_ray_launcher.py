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
from pathlib import Path

import pytest

from devtools.local_ray import LocalRayHead

pytestmark = pytest.mark.ray

BARE_PATH = "/usr/local/bin:/usr/bin:/bin"  # a system PATH: no venv on it


def _python_without_ray(path: str) -> bool:
    """Whether ``python`` on ``path`` is missing or has no Ray (what a job would get without the fix)."""
    python = shutil.which("python", path=path)
    return python is None or subprocess.run([python, "-c", "import ray"], capture_output=True).returncode != 0


def test_job_entrypoint_python_has_ray_when_the_callers_path_lacks_the_venv(monkeypatch: pytest.MonkeyPatch) -> None:
    from ray.job_submission import JobStatus, JobSubmissionClient

    assert _python_without_ray(BARE_PATH), "the premise: `python` on the bare PATH must lack Ray"
    monkeypatch.setenv("PATH", BARE_PATH)
    with LocalRayHead(num_cpus=1) as head:
        client = JobSubmissionClient(head.dashboard_url)
        job = client.submit_job(
            entrypoint="python -c \"import ray, sys; print('ray', ray.__version__, sys.executable)\""
        )
        deadline = time.monotonic() + 120
        while (status := client.get_job_status(job)) not in {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED}:
            assert time.monotonic() < deadline, f"the job is still {status}"
            time.sleep(0.5)
        logs = client.get_job_logs(job)
    assert status == JobStatus.SUCCEEDED, logs
    assert f"ray {_ray_version()} {Path(sys.executable).parent}" in logs, logs


def _ray_version() -> str:
    import ray

    return str(ray.__version__)
