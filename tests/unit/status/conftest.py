"""Status tests setup: the CRD schemas the recorded status documents must fit."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

_CRD_HELPER = Path(__file__).resolve().parents[1] / "specs" / "specs_crd_schema.py"


def load_crd_helper() -> Any:
    """Import the CRD schema helper of the Specs tests by path (tests/unit has no packages)."""
    name = "kuberay_specs_crd_schema"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _CRD_HELPER)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


load_crd_helper()
