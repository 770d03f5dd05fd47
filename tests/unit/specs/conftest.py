"""Fixtures of the Specs tests: CRD schema validation against the shared KubeRay v1.7.0 data."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

_HELPER = Path(__file__).with_name("specs_crd_schema.py")


def load_crd_helper() -> Any:
    """Import the CRD schema helper by path (tests/unit has no packages)."""
    name = "kuberay_specs_crd_schema"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _HELPER)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def crd() -> Any:
    """The CRD helper module; fails loudly when the shared KubeRay data is missing."""
    helper = load_crd_helper()
    try:
        helper.kuberay_dir()
    except FileNotFoundError as err:
        pytest.fail(str(err))
    return helper


@pytest.fixture(scope="session")
def schema_errors(crd: Any) -> Callable[[dict[str, Any]], list[str]]:
    """Validate a body against its CRD's v1 openAPIV3Schema; returns the violations."""
    return crd.schema_errors


# Imported here so that test modules can use it at collection time.
load_crd_helper()
