"""The environment the local Ray head launcher (devtools/local_ray.py) gives a head, without starting one."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.local_ray import LocalRayHead


@pytest.fixture
def head() -> Iterator[LocalRayHead]:
    unstarted = LocalRayHead(pythonpath=[Path("/opt/apps")])
    yield unstarted
    unstarted.stop()  # removes its temp dirs


def test_the_launching_pythons_bin_comes_first_on_path(head: LocalRayHead, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    path = head.environment()["PATH"].split(os.pathsep)
    assert path == [str(head.ray_bin.parent), "/usr/bin", "/bin"]
    assert head.ray_bin.with_name("python").exists()  # the Python that has Ray, for `python ...` entrypoints
    if Path(sys.executable).with_name("ray").exists():  # a matrix cell's Ray lives in a venv of its own
        assert path[0] == str(Path(sys.executable).parent)
    assert head.environment()["PYTHONPATH"].split(os.pathsep)[0] == "/opt/apps"


def test_the_head_gets_no_proxy_no_foreign_ray_settings_and_a_quiet_home(
    head: LocalRayHead, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "http://elsewhere:8265")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    env = head.environment()
    assert "RAY_ADDRESS" not in env
    assert "HTTPS_PROXY" not in env
    assert env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"
    assert env["RAY_USAGE_STATS_ENABLED"] == "0"
    assert (Path(env["HOME"]) / "ray_bootstrap_config.yaml").read_text() == "{}\n"
    assert env["RAY_USAGE_STATS_REPORT_URL"].startswith("http://127.0.0.1:")


def test_extra_environment_and_a_token_are_given_explicitly_never_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", "the-callers-token")
    plain = LocalRayHead(extra_env={"RAY_agent_register_timeout_ms": "120000"})
    token = LocalRayHead(auth_token="t" * 32)
    try:
        env = plain.environment()
        assert "RAY_AUTH_MODE" not in env
        assert "RAY_AUTH_TOKEN" not in env
        assert env["RAY_agent_register_timeout_ms"] == "120000"
        assert {key: token.environment()[key] for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")} == {
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": "t" * 32,
        }
    finally:
        plain.stop()
        token.stop()
