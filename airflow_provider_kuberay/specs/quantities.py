"""Kubernetes resource quantities ("500m", "4Gi", 2): parsing, formatting, comparison."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from airflow_provider_kuberay.specs.errors import SpecValidationError

# The grammar of k8s.io/apimachinery resource.Quantity (as in the CRD's pattern).
_QUANTITY_RE = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
QUANTITY_HELP = 'a Kubernetes quantity such as 2, "500m", "1.5", "4Gi" or "512M"'

QuantityInput = str | int | float


def parse_quantity(value: object, path: str) -> Decimal:
    """
    Parse a Kubernetes quantity into an exact decimal number of base units.

    :param value: a string such as ``"500m"``/``"4Gi"``, or an int/float.
    :param path: the field path named in the error if the value does not parse.
    :raises SpecValidationError: if the value is not a quantity.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise SpecValidationError(path, f"{value!r} is not a quantity", QUANTITY_HELP)
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise SpecValidationError(path, f"{value!r} is not a finite quantity", QUANTITY_HELP)
        return Decimal(repr(value))
    match = _QUANTITY_RE.match(value.strip())
    if not match or value != value.strip():
        raise SpecValidationError(path, f"{value!r} does not parse as a quantity", QUANTITY_HELP)
    try:
        number = Decimal(match.group("number"))
    except InvalidOperation as err:  # pragma: no cover - the regex already guarantees a number
        raise SpecValidationError(path, f"{value!r} does not parse as a quantity", QUANTITY_HELP) from err
    suffix = match.group("suffix") or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    if suffix:
        return number * (Decimal(10) ** Decimal(suffix[1:]))
    return number


def format_quantity(value: QuantityInput, path: str) -> str:
    """
    Return the canonical string form of a builder input quantity (2 -> "2", 0.5 -> "500m").

    Strings are kept as written once they parse, so the body shows what the user typed.

    :param value: the user's value.
    :param path: the field path named in the error.
    """
    amount = parse_quantity(value, path)
    if isinstance(value, str):
        return value
    if amount == amount.to_integral_value():
        return str(int(amount))
    millis = amount * 1000
    if millis == millis.to_integral_value():
        return f"{int(millis)}m"
    raise SpecValidationError(path, f"{value!r} is finer than a milli-unit", "at most 3 decimal places")


def is_whole(amount: Decimal) -> bool:
    """
    Tell whether a parsed quantity is a whole number (accelerators must be).

    :param amount: a parsed quantity.
    """
    return amount == amount.to_integral_value()
