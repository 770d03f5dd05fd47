"""Runtime envs: parsing, and local directories packaged like `ray job submit` does."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from airflow_provider_kuberay.hooks.runtime_env import (
    local_packages,
    parse_runtime_env,
    with_uploaded_packages,
    zip_directory,
)


def test_yaml_and_dict_forms_agree() -> None:
    text = "pip: [requests]\nenv_vars:\n  A: '1'\n"
    assert parse_runtime_env(text) == parse_runtime_env({"pip": ["requests"], "env_vars": {"A": "1"}})
    assert parse_runtime_env(None) == {}
    assert parse_runtime_env("") == {}


@pytest.mark.parametrize("bad", ["- a\n- b\n", "just text", 42, "a: [unclosed"])
def test_non_mappings_are_rejected_naming_the_field(bad: object) -> None:
    with pytest.raises(ValueError, match="runtime_env"):
        parse_runtime_env(bad)  # type: ignore[arg-type]


def _tree(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "main.py").write_text("print('hi')\n")
    (root / "pkg" / "data.txt").write_text("data\n")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    (root / "big.bin").write_bytes(b"x" * 10)
    return root


def test_zip_is_deterministic_and_skips_caches_and_excludes(tmp_path: Path) -> None:
    root = _tree(tmp_path / "wd")
    first = zip_directory(root, ["*.bin"], include_parent_dir=False)
    (root / "main.py").touch()  # a new mtime must not change the package
    assert zip_directory(root, ["*.bin"], include_parent_dir=False) == first
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert names == ["main.py", "pkg/data.txt"]
    parent = zipfile.ZipFile(io.BytesIO(zip_directory(root, [], include_parent_dir=True))).namelist()
    assert "wd/main.py" in parent
    assert "wd/big.bin" in parent


def test_local_dirs_are_found_and_uris_left_alone(tmp_path: Path) -> None:
    root = _tree(tmp_path / "wd")
    mod = _tree(tmp_path / "mod")
    env = {"working_dir": str(root), "py_modules": [str(mod), "s3://bucket/m.zip"]}
    packages = local_packages(env)
    assert [(p.field, p.include_parent_dir) for p in packages] == [
        ("working_dir", False),
        ("runtime_env.py_modules[0]", True),
    ]
    uri, content = packages[0].build([])
    assert uri.startswith("gcs://_ray_pkg_")
    assert uri.endswith(".zip")
    assert content
    assert packages[0].build([])[0] == uri  # same tree, same URI: uploads are skipped next time
    replaced = with_uploaded_packages(env, {"working_dir": uri, "runtime_env.py_modules[0]": "gcs://m.zip"})
    assert replaced == {"working_dir": uri, "py_modules": ["gcs://m.zip", "s3://bucket/m.zip"]}
    assert local_packages({"working_dir": "https://host/wd.zip"}) == []


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"working_dir": "/does/not/exist"}, "runtime_env.working_dir"),
        ({"working_dir": 3}, "runtime_env.working_dir"),
        ({"py_modules": "notalist"}, "runtime_env.py_modules"),
        ({"py_modules": ["/nope"]}, r"runtime_env.py_modules\[0\]"),
    ],
)
def test_bad_package_fields_are_named(env: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        local_packages(env)
