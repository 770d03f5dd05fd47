"""The CRDs of a KubeRay release, from its Go module (``ray-operator/config/crd/bases``), via the Go module proxy."""

from __future__ import annotations

import functools
from typing import Any

import yaml

from harness.build import release_crd_dir


@functools.cache
def release_crds(version: str) -> dict[str, dict[str, Any]] | None:
    """A release's CRDs by name (``rayjobs.ray.io``...); ``None`` without Go or the module proxy."""
    folder = release_crd_dir(version, timeout=120.0)
    if folder is None:
        return None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRDs are megabytes of YAML
    crds = [yaml.load(path.read_text(), Loader=loader) for path in sorted(folder.glob("ray.io_*.yaml"))]
    return {crd["metadata"]["name"]: crd for crd in crds}
