"""Ray runtime environments: from a dict or YAML text to the ``runtimeEnvYAML`` string and back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from airflow_provider_kuberay.specs.errors import SpecValidationError, yaml_problem


def parse_yaml_mapping(text: object, path: str, what: str) -> dict[str, Any]:
    """
    Parse YAML text that must hold a mapping (an empty text gives an empty mapping).

    :param text: the YAML text.
    :param path: the field path named in errors.
    :param what: what the mapping is, e.g. "a runtime environment".
    :raises SpecValidationError: if it is not a string, does not parse, or is not a mapping.
    """
    if not isinstance(text, str):
        raise SpecValidationError(path, f"is a {type(text).__name__}", f"YAML text of {what}")
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecValidationError(path, f"YAML does not parse ({yaml_problem(err)})", f"YAML text of {what}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, Mapping):
        raise SpecValidationError(path, f"holds a {type(loaded).__name__}, not a mapping", f"YAML text of {what}")
    return dict(loaded)


def dump_yaml(value: Mapping[str, Any]) -> str:
    """
    Dump a mapping as block-style YAML, keeping the key order the user wrote.

    :param value: the mapping.
    """
    return yaml.safe_dump(dict(value), sort_keys=False, default_flow_style=False)


def runtime_env_yaml(runtime_env: object, path: str = "spec.runtimeEnvYAML") -> str:
    """
    Turn a runtime environment (a mapping, or YAML text of one) into ``runtimeEnvYAML``.

    :param runtime_env: e.g. ``{"pip": ["requests"], "env_vars": {"A": "1"}}``.
    :param path: the field path named in errors.
    :raises SpecValidationError: if it is not a mapping.
    """
    if isinstance(runtime_env, str):
        parse_yaml_mapping(runtime_env, path, "a runtime environment")
        return runtime_env
    if not isinstance(runtime_env, Mapping):
        raise SpecValidationError(
            path, f"runtime env is a {type(runtime_env).__name__}", "a mapping, e.g. {'pip': [...]}"
        )
    return dump_yaml(runtime_env)
