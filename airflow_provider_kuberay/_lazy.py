"""Package attributes loaded on first use, so importing one name does not import every client library."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """
    A module ``__getattr__`` that imports ``exports[name]`` (a module path) when ``name`` is first used.

    :param package: the package's ``__name__``, for error messages.
    :param exports: attribute name -> module that defines it.
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    return __getattr__
