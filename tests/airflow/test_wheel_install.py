"""
The release artefacts: ``uv build`` makes the sdist and the wheel; the wheel, installed into a fresh
venv (the locked dependencies, from uv's cache when it has them), ships only the provider, and
Airflow there finds the provider, both connection types and example DAGs that parse.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "airflow_provider_kuberay"
# What a source tree holds but a source release must not: environments, caches, build output.
NOT_IN_SDIST = {".venv", ".git", ".demo", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", "dist"}

# Runs in the fresh venv with -I: neither this checkout nor PYTHONPATH is importable there.
CHECK = textwrap.dedent(
    """
    import json, sys
    from importlib.metadata import distribution
    import airflow_provider_kuberay
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    hooks = manager.hooks
    bag = DagBag(dag_folder=sys.argv[1])
    print(json.dumps({
        "files": sorted({str(f).split("/")[0] for f in distribution("airflow-provider-kuberay").files}),
        "package_file": airflow_provider_kuberay.__file__,
        "providers": sorted(manager.providers),
        "hooks": {t: hooks[t].hook_class_name if hooks.get(t) else None for t in ("kuberay", "ray_dashboard")},
        "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "dag_ids": sorted(bag.dag_ids),
    }))
    """
)


def _uv() -> list[str]:
    uv = os.environ.get("UV") or shutil.which("uv")  # `uv run` exports UV
    if uv is None:
        pytest.skip("packaging NOT TESTED: no `uv` command (run the tests with `make test` or `uv run`)")
    return [uv]


def _uv_offline_first(*args: str) -> None:
    """Run a uv command from its cache alone; only if that cannot work, let it reach the registry."""
    offline = subprocess.run([*_uv(), *args, "--offline"], capture_output=True, text=True, cwd=ROOT)
    if offline.returncode != 0:
        subprocess.run([*_uv(), *args], capture_output=True, text=True, cwd=ROOT, check=True)


def _sdist_members(sdist: Path) -> list[str]:
    with tarfile.open(sdist) as archive:
        return [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]


def _wheel_top_level(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        record = next(name for name in archive.namelist() if name.endswith(".dist-info/RECORD"))
        lines = archive.read(record).decode().splitlines()
    return {line.split(",", 1)[0].split("/", 1)[0] for line in lines if line}


def test_built_wheel_installs_alone_and_airflow_finds_the_provider(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    # The sdist first, then the wheel built from it: a wheel that builds proves the sdist complete.
    _uv_offline_first("build", "--out-dir", str(dist), str(ROOT))
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")

    members = _sdist_members(sdist)
    assert {"pyproject.toml", f"{PACKAGE}/__init__.py", "README.md"} <= set(members)
    assert any(name.startswith("example_dags/") for name in members)
    dragged = [name for name in members if NOT_IN_SDIST & set(name.split("/")) or name.endswith(".pyc")]
    assert not dragged, f"the sdist carries environment or cache files: {dragged[:10]}"

    top_level = _wheel_top_level(wheel)
    dist_info = {name for name in top_level if name.endswith(".dist-info")}
    assert top_level - dist_info == {PACKAGE}, top_level

    # A fresh venv with the locked runtime dependencies (no `local` extra, no dev group), then the wheel.
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    subprocess.run([*_uv(), "venv", "-q", "--python", sys.executable, str(venv)], check=True, cwd=tmp_path)
    lock = tmp_path / "lock" / "pylock.toml"
    lock.parent.mkdir()
    subprocess.run(
        [
            *_uv(),
            "export",
            "-q",
            "--frozen",
            "--no-dev",
            "--no-emit-project",
            "--format",
            "pylock.toml",
            "-o",
            str(lock),
        ],
        check=True,
        cwd=ROOT,
    )
    _uv_offline_first("pip", "install", "-q", "--preview-features", "pylock", "--python", str(python), "-r", str(lock))
    _uv_offline_first("pip", "install", "-q", "--python", str(python), str(wheel))

    home = tmp_path / "airflow-home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__CORE__DAGS_FOLDER=str(home))
    checked = subprocess.run(
        [str(python), "-I", "-c", CHECK, str(ROOT / "example_dags")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr[-3000:]
    found = json.loads(checked.stdout.strip().splitlines()[-1])

    assert set(found["files"]) - {f for f in found["files"] if f.endswith(".dist-info")} == {PACKAGE}
    assert Path(found["package_file"]).is_relative_to(venv), found["package_file"]
    assert "airflow-provider-kuberay" in found["providers"]
    # Each connection type's hook as (package, class): where inside the package it lives may change.
    hooks = {kind: (name.split(".")[0], name.rsplit(".", 1)[-1]) for kind, name in found["hooks"].items() if name}
    assert hooks == {"kuberay": (PACKAGE, "KubeRayHook"), "ray_dashboard": (PACKAGE, "RayDashboardHook")}, hooks
    assert found["import_errors"] == {}
    assert len(found["dag_ids"]) >= len(list((ROOT / "example_dags").glob("example_*.py"))), found["dag_ids"]
