"""
Runtime environments for the Ray Jobs API: parse them, and turn local ``working_dir`` /
``py_modules`` directories into packages the dashboard can store (what ``ray job submit`` does).
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# Never worth shipping to a cluster; Ray skips the same by default.
_DEFAULT_EXCLUDES = (".git", "__pycache__", "*.pyc", ".venv", ".mypy_cache", ".pytest_cache")
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
PACKAGE_PREFIX = "_ray_pkg_"


def parse_runtime_env(value: Mapping[str, Any] | str | None, field: str = "runtime_env") -> dict[str, Any]:
    """
    Accept a runtime env as a mapping or as YAML/JSON text and return it as a dict.

    :param value: the user's runtime env.
    :param field: the parameter name to cite in errors.
    :raises ValueError: when it is not a mapping (or text that parses to one).
    """
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise ValueError(f"{field} is neither a mapping nor valid YAML/JSON text: {err}") from None
        if value is None:
            return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{field} must be a mapping (or YAML text of one), got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise ValueError(f"{field} keys must be strings, got {key!r}")
    return json.loads(json.dumps(dict(value)))  # a deep, JSON-safe copy


@dataclass(frozen=True)
class LocalPackage:
    """A local directory of a runtime env that must be uploaded before submission."""

    field: str
    path: Path
    include_parent_dir: bool

    def build(self, excludes: list[str]) -> tuple[str, bytes]:
        """Zip the directory deterministically; return its ``gcs://`` URI and the zip bytes."""
        content = zip_directory(self.path, excludes, include_parent_dir=self.include_parent_dir)
        digest = hashlib.sha256(content).hexdigest()[:32]
        return f"gcs://{PACKAGE_PREFIX}{digest}.zip", content


def _is_local(uri: str) -> bool:
    return "://" not in uri


def _local_dir(value: str, field: str) -> Path:
    path = Path(value).expanduser()
    if not path.is_dir():
        raise ValueError(f"{field} {value!r} is neither a URI nor an existing local directory")
    return path.resolve()


def local_packages(runtime_env: Mapping[str, Any]) -> list[LocalPackage]:
    """List the local directories in ``working_dir`` and ``py_modules`` that need uploading."""
    packages: list[LocalPackage] = []
    working_dir = runtime_env.get("working_dir")
    if working_dir is not None:
        if not isinstance(working_dir, str):
            raise ValueError("runtime_env.working_dir must be a string (a local directory or a URI)")
        if _is_local(working_dir):
            packages.append(LocalPackage("working_dir", _local_dir(working_dir, "runtime_env.working_dir"), False))
    py_modules = runtime_env.get("py_modules") or []
    if not isinstance(py_modules, list):
        raise ValueError("runtime_env.py_modules must be a list of local directories or URIs")
    for index, module in enumerate(py_modules):
        field = f"runtime_env.py_modules[{index}]"
        if not isinstance(module, str):
            raise ValueError(f"{field} must be a string")
        if _is_local(module):
            packages.append(LocalPackage(field, _local_dir(module, field), True))
    return packages


def with_uploaded_packages(runtime_env: Mapping[str, Any], uploaded: Mapping[str, str]) -> dict[str, Any]:
    """Return a copy of ``runtime_env`` whose local package fields are replaced by their URIs."""
    result = dict(runtime_env)
    if "working_dir" in uploaded:
        result["working_dir"] = uploaded["working_dir"]
    if "py_modules" in result:
        result["py_modules"] = [
            uploaded.get(f"runtime_env.py_modules[{index}]", module)
            for index, module in enumerate(result["py_modules"])
        ]
    return result


def _excluded(excludes: list[str]) -> Callable[[str], bool]:
    patterns = [*_DEFAULT_EXCLUDES, *excludes]

    def match(relative: str) -> bool:
        parts = relative.split("/")
        return any(
            fnmatch.fnmatch(relative, pattern.strip("/")) or any(fnmatch.fnmatch(part, pattern) for part in parts)
            for pattern in patterns
        )

    return match


def _walk(root: Path, excluded: Callable[[str], bool]) -> Iterator[tuple[Path, str]]:
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        rel_dir = base.relative_to(root).as_posix()
        dirnames[:] = sorted(d for d in dirnames if not excluded(_join(rel_dir, d)))
        for name in sorted(filenames):
            relative = _join(rel_dir, name)
            if not excluded(relative):
                yield base / name, relative


def _join(rel_dir: str, name: str) -> str:
    return name if rel_dir == "." else f"{rel_dir}/{name}"


def zip_directory(root: Path, excludes: list[str], *, include_parent_dir: bool) -> bytes:
    """
    Zip a directory with stable names, order and timestamps, so equal trees give equal bytes.

    :param root: the directory.
    :param excludes: extra gitignore-like patterns (``runtime_env.excludes``).
    :param include_parent_dir: keep the directory's own name as the top level (``py_modules``).
    """
    buffer = io.BytesIO()
    prefix = f"{root.name}/" if include_parent_dir else ""
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, relative in _walk(root, _excluded(excludes)):
            info = zipfile.ZipInfo(prefix + relative, date_time=_FIXED_ZIP_TIME)
            info.external_attr = (path.stat().st_mode & 0o777) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()
