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


def tls_off_warning(log: Any, conn_attr: str, conn_id: str | None, peer: str) -> None:
    """
    Warn that a connection turned TLS certificate verification off (it is on unless turned off).

    :param log: the hook's logger.
    :param conn_attr: the parameter naming the connection, e.g. ``kuberay_conn_id``.
    :param conn_id: the connection's id.
    :param peer: what is no longer verified, e.g. ``the Ray dashboard``.
    """
    log.warning(
        "%s %r: TLS certificate verification of %s is OFF (turned off by the connection): "
        "the connection can be intercepted; use a CA bundle instead where possible",
        conn_attr,
        conn_id,
        peer,
    )
