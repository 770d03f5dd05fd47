"""Reading connection fields that forms and environment variables may deliver as text."""

from __future__ import annotations

from typing import Any

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def as_flag(value: Any, field: str = "value") -> bool | None:
    """
    A connection field as a boolean, ``None`` when unset.

    :param value: the field's value (a bool, or text such as ``"true"``/``"0"``).
    :param field: the field's name, for the error message.
    :raises ValueError: naming the field when the value is not a boolean.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"connection field {field!r} must be a boolean, got {value!r}")
