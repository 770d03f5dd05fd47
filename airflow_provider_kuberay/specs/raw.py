"""The raw-spec path: a user's own RayCluster / RayJob / RayService YAML or dict, checked and
normalized without changing its meaning.

Normalization only rewrites representations the API server would reject or drop but that mean
one thing: numbers or booleans in string maps (``rayStartParams``, labels, annotations, node
selectors...) become strings; a ``runtimeEnvYAML`` or ``serveConfigV2`` given as a mapping
becomes YAML text; null fields are dropped (the API server prunes them before defaulting).
A missing ``metadata.name`` / ``metadata.namespace`` is filled in when given.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from airflow_provider_kuberay.specs.body import API_VERSION, KINDS, validate_body
from airflow_provider_kuberay.specs.errors import SpecValidationError, yaml_problem
from airflow_provider_kuberay.specs.runtime_env import dump_yaml

RawSource = Mapping[str, Any] | str | Path
# Fields typed map[string]string in the CRDs, where YAML users often write bare numbers/booleans.
_STRING_MAPS = ("rayStartParams", "labels", "annotations", "nodeSelector", "clusterSelector", "resources")
_YAML_TEXT_FIELDS = ("runtimeEnvYAML", "serveConfigV2")


def load_documents(source: RawSource) -> list[dict[str, Any]]:
    """
    Load the Ray documents of a mapping, YAML/JSON text or a file (other kinds are skipped).

    :param source: a dict, YAML/JSON text, or a path to a ``.yaml``/``.yml``/``.json`` file.
    """
    if isinstance(source, Mapping):
        return [copy.deepcopy(dict(source))]
    if isinstance(source, Path) or ("\n" not in source and source.strip().endswith((".yaml", ".yml", ".json"))):
        file = Path(source).expanduser()
        if not file.is_file():
            raise SpecValidationError("<file>", f"{str(file)!r} does not exist", "a readable YAML/JSON file")
        text = file.read_text()
    else:
        text = source
    try:
        docs = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as err:
        raise SpecValidationError("<document>", f"YAML does not parse ({yaml_problem(err)})", "YAML or JSON") from None
    return [
        dict(doc) for doc in docs if isinstance(doc, Mapping) and str(doc.get("apiVersion", "")).startswith("ray.io/")
    ]


def normalize_body(
    source: RawSource,
    *,
    kind: str | None = None,
    name: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """
    Check and normalize a user's raw RayCluster / RayJob / RayService.

    :param source: the body as a dict, YAML/JSON text or a file path. A multi-document file must
        hold exactly one Ray resource (of ``kind`` if given).
    :param kind: the kind expected (None: any of the three).
    :param name: fills ``metadata.name`` when absent; must match when present.
    :param namespace: fills ``metadata.namespace`` when absent; must match when present.
    :return: a new, validated dict.
    :raises SpecValidationError: naming the first invalid field.
    """
    docs = [d for d in load_documents(source) if kind is None or d.get("kind") == kind]
    if len(docs) != 1:
        wanted = kind or " / ".join(KINDS)
        found = sorted({str(d.get("kind")) for d in load_documents(source)})
        raise SpecValidationError(
            "<document>",
            f"found {len(docs)} {wanted} documents (kinds found: {', '.join(found) or 'none'})",
            "exactly one",
        )
    body = docs[0]
    if body.get("apiVersion") != API_VERSION:
        raise SpecValidationError(
            "apiVersion", f"{body.get('apiVersion')!r}", f"{API_VERSION} (v1alpha1 is deprecated)"
        )
    metadata = body.setdefault("metadata", {})
    if isinstance(metadata, dict):
        for key, value in (("name", name), ("namespace", namespace)):
            if value is None:
                continue
            if metadata.get(key) not in (None, value):
                raise SpecValidationError(
                    f"metadata.{key}", f"{metadata[key]!r} differs from the requested {value!r}", value
                )
            metadata[key] = value
    body = _normalize(body)
    validate_body(body, kind)
    return body


def _normalize(node: Any, key: str | None = None) -> Any:
    if isinstance(node, dict):
        if key in _STRING_MAPS and all(not isinstance(v, (dict, list)) for v in node.values()):
            # Only flat maps: "resources" is also a container's requests/limits, left alone.
            return {k: _scalar_text(v) for k, v in node.items()}
        result = {}
        for child_key, value in node.items():
            if value is None:
                continue
            if child_key in _YAML_TEXT_FIELDS and isinstance(value, Mapping):
                result[child_key] = dump_yaml(value)
            else:
                result[child_key] = _normalize(value, child_key)
        return result
    if isinstance(node, list):
        return [_normalize(item) for item in node]
    return node


def _scalar_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value
