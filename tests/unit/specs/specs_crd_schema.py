"""Test helper: the KubeRay v1.7.0 CRD schemas (read from the shared data dir) as jsonschema validators.

The CRDs are OpenAPI v3 structural schemas; to check a body the way the API server would, this
turns their Kubernetes extensions into plain JSON Schema:

- ``x-kubernetes-int-or-string`` -> an integer or a string;
- ``nullable`` -> also null;
- ``x-kubernetes-preserve-unknown-fields`` -> unknown fields allowed there; everywhere else an
  object with declared properties rejects unknown fields (the API server would silently prune
  them, which hides typos: the contract test is stricter on purpose);
- ``required`` fields that have a ``default`` are not required (the API server defaults first);
- ``format: int32`` / ``int64`` -> the integer range;
- CEL rules (``x-kubernetes-validations``) are dropped (not evaluable here).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRD_FILES = {
    "RayCluster": "ray.io_rayclusters.yaml",
    "RayJob": "ray.io_rayjobs.yaml",
    "RayService": "ray.io_rayservices.yaml",
}
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def shared_dir() -> Path:
    """Return the shared KubeRay data dir (``$KUBERAY_SHARED_DIR`` or ``<repo>/../shared``)."""
    env = os.environ.get("KUBERAY_SHARED_DIR")
    if env:
        return Path(env).expanduser().resolve()
    repo_root = Path(__file__).resolve().parents[3]
    return (repo_root / ".." / "shared").resolve()


def kuberay_dir() -> Path:
    """Return the dir holding ``crds/`` and ``samples/``; fail loudly if it is missing."""
    base = shared_dir()
    candidate = base / "kuberay" if (base / "kuberay").is_dir() else base
    if not (candidate / "crds").is_dir():
        raise FileNotFoundError(
            f"KubeRay CRDs not found under {base}: set KUBERAY_SHARED_DIR to the dir holding kuberay/crds"
        )
    return candidate


def _convert(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    schema: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("x-kubernetes-validations", "description"):
            continue
        if key == "properties":
            schema[key] = {name: _convert(sub) for name, sub in value.items()}
        elif key in ("items", "not") or (key == "additionalProperties" and isinstance(value, dict)):
            schema[key] = _convert(value)
        elif key in ("anyOf", "allOf", "oneOf"):
            schema[key] = [_convert(sub) for sub in value]
        else:
            schema[key] = value
    if schema.pop("x-kubernetes-int-or-string", False):
        schema.pop("type", None)
        schema.pop("anyOf", None)
        schema["type"] = ["integer", "string"]
    if schema.pop("nullable", False) and isinstance(schema.get("type"), str):
        schema["type"] = [schema["type"], "null"]
    preserve = schema.pop("x-kubernetes-preserve-unknown-fields", False)
    if (
        schema.get("type") == "object"
        and "properties" in schema
        and "additionalProperties" not in schema
        and not preserve
    ):
        schema["additionalProperties"] = False
    if "required" in schema:
        props = schema.get("properties", {})
        schema["required"] = [name for name in schema["required"] if "default" not in props.get(name, {})]
        if not schema["required"]:
            del schema["required"]
    if schema.get("format") in _INT_RANGES and schema.get("type") == "integer":
        low, high = _INT_RANGES[schema["format"]]
        schema.setdefault("minimum", low)
        schema.setdefault("maximum", high)
    return schema


@functools.cache
def validator(kind: str) -> jsonschema.Draft7Validator:
    """
    Return a validator for ``ray.io/v1`` ``kind`` bodies.

    :param kind: RayCluster, RayJob or RayService.
    """
    crd = yaml.safe_load((kuberay_dir() / "crds" / CRD_FILES[kind]).read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    schema = _convert(version["schema"]["openAPIV3Schema"])
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def schema_errors(body: dict[str, Any]) -> list[str]:
    """
    Return the schema violations of a body (empty when valid), each as ``path: message``.

    :param body: a RayCluster / RayJob / RayService dict.
    """
    errors = validator(body["kind"]).iter_errors(body)
    return sorted(f"{'.'.join(str(p) for p in err.absolute_path)}: {err.message}" for err in errors)


def sample_documents() -> list[tuple[str, int, dict[str, Any]]]:
    """Return (file name, document index, document) for every Ray resource in the samples."""
    found = []
    for file in sorted((kuberay_dir() / "samples").glob("*.yaml")):
        for index, doc in enumerate(yaml.safe_load_all(file.read_text())):
            if isinstance(doc, dict) and doc.get("kind") in CRD_FILES:
                found.append((file.name, index, doc))
    return found
