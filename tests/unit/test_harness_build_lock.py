"""The harness build's per-binary lock: a second build of a binary waits for the one under way (the
Kueue build `make test` starts in the background, an older operator a matrix cell prepares) and
then finds it built, instead of building it again beside it."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import build, kueue

HOLD_SECONDS = 1.5

# Another process's build: takes the lock, "builds" for a while, leaves the binary, lets go.
OTHER_BUILD = """
import fcntl, sys, time
with open(sys.argv[1], "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    print("building", flush=True)
    time.sleep(float(sys.argv[3]))
    if sys.argv[2]:
        open(sys.argv[2], "w").write("binary")
"""


def _other_build(target: Path, leaves_binary: bool = True) -> subprocess.Popen[str]:
    lock = target.with_name(target.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", OTHER_BUILD, str(lock), str(target) if leaves_binary else "", str(HOLD_SECONDS)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "building"
    return proc


def test_a_second_build_waits_for_the_first_and_finds_the_binary(tmp_path: Path) -> None:
    target = tmp_path / "bin" / "tool"
    other = _other_build(target)
    started = time.monotonic()
    with build._lock(target) as missing:
        waited = time.monotonic() - started
    other.wait(timeout=10)
    assert waited >= HOLD_SECONDS * 0.8, waited
    assert not missing  # built by the other process: nothing left to build


def test_a_free_lock_is_taken_at_once_and_a_missing_binary_is_to_build(tmp_path: Path) -> None:
    target = tmp_path / "bin" / "tool"
    started = time.monotonic()
    with build._lock(target) as missing:
        assert missing
        assert time.monotonic() - started < 1
        # Held: a build elsewhere has to wait now.
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import fcntl, sys\n"
                "try:\n"
                "    fcntl.flock(open(sys.argv[1], 'w'), fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
                "except BlockingIOError:\n"
                "    sys.exit(3)\n",
                str(target.with_name("tool.lock")),
            ],
            check=False,
        )
        assert probe.returncode == 3


def test_kueue_tests_wait_for_the_background_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if not build.go_available():
        pytest.skip("no Go toolchain: the Kueue tests skip before waiting")
    monkeypatch.setattr(build, "CACHE", tmp_path)
    monkeypatch.delenv("KUBERAY_HARNESS_KUEUE", raising=False)
    other = _other_build(build.kueue_binary())
    kueue.wait_for_build()
    other.wait(timeout=10)
    assert build.kueue_binary().read_text() == "binary"
    out = capsys.readouterr().out
    assert "kueue: waiting for the build under way" in out
    assert re.search(r"Kueue: waited \d+s for its build", out), out


def test_nothing_to_wait_for_once_kueue_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(build, "CACHE", tmp_path)
    build.kueue_binary().parent.mkdir(parents=True)
    build.kueue_binary().write_text("binary")
    kueue.wait_for_build()
    assert capsys.readouterr().out == ""


def test_a_background_build_runs_at_the_lowest_cpu_priority_as_a_whole_session() -> None:
    probe = (
        "import os, pathlib; p = pathlib.Path('/proc/self/autogroup'); "
        "print(os.nice(0)); print(p.read_text() if p.exists() else '')"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        start_new_session=True,
        preexec_fn=build._lowest_cpu_priority,
        capture_output=True,
        text=True,
        check=True,
    )
    nice, autogroup = [*done.stdout.splitlines(), ""][:2]
    assert nice == "19"
    if Path("/proc/sys/kernel/sched_autogroup_enabled").exists() and autogroup:
        # The session's scheduling group: what keeps a Go build's short processes behind the tests.
        assert autogroup.endswith("nice 19"), autogroup
