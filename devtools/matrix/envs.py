"""
Build the venvs of the matrix with uv, from the project's own files only: ``pyproject.toml`` (the
floors), ``uv.lock`` (the default versions) and the cell's pins. A venv is rebuilt only when what it
was built from changed (a stamp file records that).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib

from devtools.matrix.cells import Cell, RayHead

ROOT = Path(__file__).resolve().parents[2]
MATRIX_DIR = Path(os.environ.get("KUBERAY_MATRIX_DIR", ROOT / ".matrix"))
_STAMP = "matrix-stamp.json"


def uv_command() -> list[str]:
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def interpreter(version: str) -> str:
    """A local interpreter of ``version`` (pyenv's if it has one), else the version for uv to find or fetch."""
    if shutil.which("pyenv"):
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False).stdout.strip()
        candidates = sorted(
            Path(root, "versions").glob(f"{version}.*/bin/python{version}"),
            key=lambda path: [int(part) for part in re.findall(r"\d+", path.parts[-3])],
        )
        if candidates:
            return str(candidates[-1])
    return version


def floor_pins() -> list[str]:
    """Every runtime dependency of ``pyproject.toml`` pinned at the floor it declares (``>=X`` → ``==X``)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = []
    for requirement in project["dependencies"]:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][^,;\s]*)\s*", requirement)
        if match is None:
            raise ValueError(f"pyproject.toml dependency {requirement!r} has no plain `>=` floor to pin")
        pins.append(f"{match[1]}=={match[2]}")
    return pins


def _run(command: list[str], log: Path) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(command[:4])} ...` failed with {done.returncode}; see {log}")


def _fresh(venv: Path, recipe: dict[str, object]) -> bool:
    stamp = venv / _STAMP
    return stamp.exists() and json.loads(stamp.read_text()) == recipe


def _build(venv: Path, python: str, recipe: dict[str, object], installs: list[list[str]], log: Path) -> Path:
    recipe = {**recipe, "installs": installs}  # a changed install command rebuilds too
    if not _fresh(venv, recipe):
        shutil.rmtree(venv, ignore_errors=True)
        uv = uv_command()
        _run([*uv, "venv", "--quiet", "--python", interpreter(python), str(venv)], log)
        for arguments in installs:
            _run([*uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), *arguments], log)
        (venv / _STAMP).write_text(json.dumps(recipe))
    return venv


def _digest(*paths: Path) -> str:
    return hashlib.sha256(b"".join(path.read_bytes() for path in paths)).hexdigest()[:16]


def test_venv(cell: Cell, log: Path) -> Path:
    """The venv the cell's pytest runs in: the project (editable), its dev group, never Ray."""
    venv = MATRIX_DIR / "venvs" / cell.env_name
    recipe: dict[str, object] = {
        "python": cell.python,
        "airflow": cell.airflow,
        "exclude_newer": cell.exclude_newer,
        "floors": cell.floors,
        "project": _digest(ROOT / "pyproject.toml", ROOT / "uv.lock"),
    }
    install = ["-e", ".", "--group", "dev"]
    if cell.airflow is None:
        # uv.lock's versions, less the `local` extra: the Ray head lives in a venv of its own.
        locked = venv.with_name(venv.name + ".requirements.txt")
        locked.parent.mkdir(parents=True, exist_ok=True)
        export = [*uv_command(), "export", "--frozen", "--no-hashes", "--no-emit-project", "--group", "dev"]
        locked.write_text(subprocess.run(export, cwd=ROOT, capture_output=True, text=True, check=True).stdout)
        installs = [["-r", str(locked), *install]]
    elif cell.floors:
        pins = venv.with_name(venv.name + ".floors.txt")
        pins.parent.mkdir(parents=True, exist_ok=True)
        pins.write_text("\n".join([*floor_pins(), f"apache-airflow=={cell.airflow}"]) + "\n")
        installs = [["--resolution", "lowest-direct", "-c", str(pins), *install]]
    else:
        dated = ["--exclude-newer", cell.exclude_newer] if cell.exclude_newer else []
        installs = [[*dated, *install, f"apache-airflow=={cell.airflow}"]]
    return _build(venv, cell.python, recipe, installs, log)


def ray_venv(head: RayHead, log: Path) -> Path:
    """A venv with only ``ray[default,serve]`` of ``head.version``, resolved as PyPI was the day after its release."""
    venv = MATRIX_DIR / "venvs" / head.name
    recipe: dict[str, object] = {"ray": head.version, "released": head.released, "python": head.python}
    day_after = _day_after(head.released)
    # Older Rays import pkg_resources without declaring setuptools, which a uv venv does not hold.
    installs = [["--exclude-newer", day_after, f"ray[default,serve]=={head.version}", "setuptools"]]
    return _build(venv, head.python, recipe, installs, log)


def _day_after(day: str) -> str:
    from datetime import date, timedelta

    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()
