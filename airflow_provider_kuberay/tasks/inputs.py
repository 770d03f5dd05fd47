"""
Checks of operator parameters as they are after template rendering (a template renders to text,
so a number or a mapping may arrive as a string). Each error names the parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from airflow_provider_kuberay.specs.names import validate_name, validate_namespace

_SCALARS = (str, int, float, bool)


def resource_name(value: object, field: str, kind: str) -> str:
    """
    A RayCluster / RayJob / RayService name given as a parameter.

    :param value: the rendered value.
    :param field: the parameter's name, e.g. ``cluster_name``.
    :param kind: the kind it names (sets the rules).
    """
    return validate_name(value, kind, path=field)


def optional_resource_name(value: object, field: str, kind: str) -> str | None:
    """Like :func:`resource_name`, but ``None`` (not given) passes."""
    return None if value is None else resource_name(value, field, kind)


def namespace(value: object, field: str = "namespace") -> str | None:
    """A namespace parameter: ``None`` or empty means the connection's; anything else must be valid."""
    if value is None or value == "":
        return None
    return validate_namespace(value, path=field)


def string_map(value: object, field: str) -> dict[str, str] | None:
    """A mapping of names to text (labels, metadata); numbers and booleans are accepted as values."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"{field} must be a mapping of names to strings, got {type(value).__name__} {value!r:.80}")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, _SCALARS):
            raise ValueError(f"{field}[{key!r}] must be a string, got {type(item).__name__}")
    return {key: str(item) for key, item in value.items()}


def optional_mapping(value: object, field: str) -> dict[str, object] | None:
    """A structured parameter (e.g. a pod template); ``None`` or empty means not given."""
    if value is None or value == "":
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"{field} must be a mapping, got {type(value).__name__} {value!r:.80}")
    return dict(value)


def number_map(value: object, field: str) -> dict[str, float] | None:
    """A mapping of resource names to amounts >= 0."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"{field} must be a mapping of resource names to numbers, got {type(value).__name__}")
    for key, amount in value.items():
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0:
            raise ValueError(f"{field}[{key!r}] must be a number >= 0, got {amount!r}")
    return {str(key): float(amount) for key, amount in value.items()}


def string_list(value: object, field: str) -> list[str]:
    """A list of names (a bare string is refused: it would be read as a list of characters)."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"{field} must be a list of strings, got {type(value).__name__} {value!r:.80}")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise ValueError(f"{field}[{index}] must be a non-empty string, got {item!r}")
    return list(value)


def optional_int(value: object, field: str) -> int | None:
    """An integer, or its decimal text (XComs render as text); ``None``, empty or ``"None"`` mean unset."""
    if value is None or value in ("", "None"):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"{field} must be an integer, got {value!r}")


def check_positive(name: str, value: object, *, allow_zero: bool = False, integer: bool = False) -> None:
    """Reject a bad number with an error naming the parameter."""
    if value is None:
        return
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ValueError(f"{name} must be a{'n integer' if integer else ' number'}, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def non_empty_text(value: object, field: str, example: str) -> str:
    """A required piece of text, e.g. an entrypoint."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field} must be a non-empty string, e.g. {example!r}, got {value!r}")
    return value


def renamed_spec_error(err: Exception, field: str) -> Exception:
    """
    A raw-body error re-pathed to the parameter it came from: ``<document>: YAML does not parse``
    becomes ``cluster: YAML does not parse``.

    :param err: a ``SpecValidationError`` from loading a raw body or a config.
    :param field: the parameter, e.g. ``cluster`` or ``serve_config``.
    """
    from airflow_provider_kuberay.specs import SpecValidationError

    if not isinstance(err, SpecValidationError):
        return err
    path = field if err.path.startswith("<") else f"{field} ({err.path})"
    return SpecValidationError(path, err.problem, err.allowed)


def check_reattach_on_clear(reattach_on_clear: bool, explicit_id: str | None, field: str) -> None:
    """A new job per clearing needs the derived name: an explicit one would be adopted after a clear."""
    if not reattach_on_clear and explicit_id:
        raise ValueError(
            f"reattach_on_clear=False needs the derived {field}: with an explicit {field} a cleared task "
            f"would find its earlier job again (leave {field} unset, or template the try number into it)"
        )
