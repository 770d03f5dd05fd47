"""The escape hatch: a raw dict or YAML file deep-merged on top of a built body.

Semantics (applied recursively, the override wins):

- mappings are merged key by key; a key whose override value is ``None`` is removed;
- lists of named things are merged item by item on their key, the way ``kubectl`` strategic
  merge does: ``workerGroupSpecs`` by ``groupName``; ``containers``, ``initContainers``,
  ``volumes``, ``env``, ``imagePullSecrets`` by ``name``; ``volumeMounts`` by ``mountPath``;
  ``ports`` by ``containerPort``. An override item with a new key is appended; one with a known
  key is merged into the existing item;
- every other list (``tolerations``, ``args``, ``command``...) and every scalar is replaced.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from airflow_provider_kuberay.specs.errors import SpecValidationError, yaml_problem

LIST_MERGE_KEYS: Mapping[str, str] = {
    "workerGroupSpecs": "groupName",
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "env": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}

OverrideSource = Mapping[str, Any] | str | Path


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """
    Return a new dict: ``override`` merged on top of ``base`` (neither is modified).

    :param base: the built body (or part of it).
    :param override: the user's overrides.
    """
    result: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in override.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = deep_merge(result[key], value)
        elif isinstance(value, list) and isinstance(result.get(key), list) and key in LIST_MERGE_KEYS:
            result[key] = _merge_list(result[key], value, LIST_MERGE_KEYS[key])
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_list(base: list[Any], override: list[Any], merge_key: str) -> list[Any]:
    merged = copy.deepcopy(base)
    index = {item.get(merge_key): i for i, item in enumerate(merged) if isinstance(item, Mapping)}
    for item in override:
        key = item.get(merge_key) if isinstance(item, Mapping) else None
        if key is not None and key in index:
            merged[index[key]] = deep_merge(merged[index[key]], item)
        else:
            index[key] = len(merged)
            merged.append(copy.deepcopy(item))
    return merged


def load_overrides(source: OverrideSource | None, path: str = "overrides") -> dict[str, Any]:
    """
    Load overrides from a mapping, a YAML/JSON file path, or YAML text.

    A string is a file path when it is one line ending in ``.yaml``, ``.yml`` or ``.json``;
    otherwise it is parsed as YAML text.

    :param source: the overrides, or None for none.
    :param path: the name of the argument, used in errors.
    :raises SpecValidationError: if the file is missing, the YAML does not parse or is not a mapping.
    """
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source))
    text: str
    if isinstance(source, Path) or ("\n" not in source and source.strip().endswith((".yaml", ".yml", ".json"))):
        file = Path(source).expanduser()
        if not file.is_file():
            raise SpecValidationError(path, f"file {str(file)!r} does not exist", "a readable YAML/JSON file")
        text = file.read_text()
    else:
        text = source
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecValidationError(path, f"YAML does not parse ({yaml_problem(err)})", "a YAML mapping") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, Mapping):
        raise SpecValidationError(path, f"is a {type(loaded).__name__}", "a YAML mapping")
    return dict(loaded)
