"""The CRDs of a KubeRay release, from its Go module (``ray-operator/config/crd/bases``), via the Go module proxy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

MODULE = "github.com/ray-project/kuberay/ray-operator"


def _go() -> str | None:
    return shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").is_file() else None)


def release_crd_dir(version: str, timeout: float = 120.0) -> Path | None:
    """
    The folder of a KubeRay release's CRDs (``go mod download``: a cached module costs nothing);
    ``None`` without a Go toolchain or when the proxy cannot serve it in time.
    """
    go = _go()
    if go is None:
        return None
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    try:
        done = subprocess.run(
            [go, "mod", "download", "-json", f"{MODULE}@{version}"],
            capture_output=True, text=True, timeout=timeout, env=env, cwd="/", check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    info = json.loads(done.stdout or "{}")
    folder = Path(info.get("Dir") or "/nonexistent") / "config" / "crd" / "bases"
    return folder if folder.is_dir() else None


def release_crds(version: str) -> dict[str, dict[str, Any]] | None:
    """A release's CRDs by name (``rayjobs.ray.io``...), or ``None`` as :func:`release_crd_dir`."""
    folder = release_crd_dir(version)
    if folder is None:
        return None
    crds = [yaml.safe_load(path.read_text()) for path in sorted(folder.glob("ray.io_*.yaml"))]
    return {crd["metadata"]["name"]: crd for crd in crds}
