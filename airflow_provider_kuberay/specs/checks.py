"""Small typed checks on raw dict bodies, each raising SpecValidationError with the field path."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_kuberay.specs.errors import SpecValidationError, child

INT32_MAX = 2**31 - 1


def mapping(value: object, path: str, allowed: str = "a mapping") -> Mapping[str, Any]:
    """
    Return ``value`` if it is a mapping with string keys.

    :param value: the value.
    :param path: its field path.
    :param allowed: what to say is allowed.
    """
    if not isinstance(value, Mapping):
        raise SpecValidationError(path, f"is a {type(value).__name__}", allowed)
    for key in value:
        if not isinstance(key, str):
            raise SpecValidationError(child(path, str(key)), f"key {key!r} is not a string", "string keys")
    return value


def optional_mapping(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    """
    Return ``parent[key]`` as a mapping, or an empty one if absent or null.

    :param parent: the enclosing mapping.
    :param key: the key.
    :param path: the enclosing mapping's path.
    """
    value = parent.get(key)
    return {} if value is None else mapping(value, child(path, key))


def sequence(value: object, path: str, allowed: str = "a list") -> Sequence[Any]:
    """
    Return ``value`` if it is a list.

    :param value: the value.
    :param path: its field path.
    :param allowed: what to say is allowed.
    """
    if not isinstance(value, list):
        raise SpecValidationError(path, f"is a {type(value).__name__}", allowed)
    return value


def string_map(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, str]:
    """
    Return ``parent[key]`` as a map of strings (rayStartParams, labels...), or an empty one.

    :param parent: the enclosing mapping.
    :param key: the key.
    :param path: the enclosing mapping's path.
    """
    where = child(path, key)
    value = optional_mapping(parent, key, path)
    for name, item in value.items():
        if not isinstance(item, str):
            raise SpecValidationError(
                child(where, name), f"{item!r} is a {type(item).__name__}", "a string (quote it in YAML)"
            )
    return value


def optional_int(
    parent: Mapping[str, Any],
    key: str,
    path: str,
    *,
    minimum: int | None = None,
    maximum: int = INT32_MAX,
) -> int | None:
    """
    Return ``parent[key]`` as an int within [minimum, maximum], or None if absent.

    :param parent: the enclosing mapping.
    :param key: the key.
    :param path: the enclosing mapping's path.
    :param minimum: the smallest allowed value (None: no bound).
    :param maximum: the largest allowed value (int32 by default, as in the CRDs).
    """
    value = parent.get(key)
    if value is None:
        return None
    where = child(path, key)
    low = "any integer" if minimum is None else f"an integer >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise SpecValidationError(where, f"{value!r} is not an integer", low)
    if minimum is not None and value < minimum:
        raise SpecValidationError(where, f"{value} is below {minimum}", low)
    if value > maximum:
        raise SpecValidationError(where, f"{value} is above {maximum}", f"at most {maximum}")
    return value


def optional_bool(parent: Mapping[str, Any], key: str, path: str) -> bool | None:
    """
    Return ``parent[key]`` as a bool, or None if absent.

    :param parent: the enclosing mapping.
    :param key: the key.
    :param path: the enclosing mapping's path.
    """
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise SpecValidationError(child(path, key), f"{value!r} is not a boolean", "true or false")
    return value


def optional_str(parent: Mapping[str, Any], key: str, path: str) -> str | None:
    """
    Return ``parent[key]`` as a string, or None if absent.

    :param parent: the enclosing mapping.
    :param key: the key.
    :param path: the enclosing mapping's path.
    """
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SpecValidationError(child(path, key), f"{value!r} is not a string", "a string")
    return value


def one_of(parent: Mapping[str, Any], key: str, path: str, choices: Sequence[str]) -> str | None:
    """
    Return ``parent[key]`` if it is one of ``choices``, or None if absent.

    :param parent: the enclosing mapping.
    :param key: the key.
    :param path: the enclosing mapping's path.
    :param choices: the allowed values.
    """
    value = optional_str(parent, key, path)
    if value is not None and value not in choices:
        raise SpecValidationError(child(path, key), f"unknown value {value!r}", ", ".join(choices))
    return value


def env_value(env: object, name: str) -> str | None:
    """
    Return the literal value of environment variable ``name`` in a container's env list.

    :param env: the container's ``env`` (a list of {name, value}).
    :param name: the variable name.
    """
    if not isinstance(env, list):
        return None
    for item in env:
        if isinstance(item, Mapping) and item.get("name") == name:
            value = item.get("value")
            return value if isinstance(value, str) else ""
    return None


def version_tuple(version: str) -> tuple[int, ...] | None:
    """
    Parse a Ray version such as ``2.52.0`` into a tuple, or None if it is not dotted numbers.

    :param version: the version string.
    """
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", version.strip())
    if not match:
        return None
    return tuple(int(p) for p in match.groups() if p is not None)
