"""
Find processes a test session left alive. The session puts a tag in its environment; every process
it starts inherits it (the harness hands it to the pods it runs too), so a process that was
re-parented or started its own session is still found by the tag, and only ours are.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

TAG_VARIABLE = "KUBERAY_TEST_PROCESS_TAG"


def tag_this_session() -> str:
    """Put a fresh tag into this process's environment (inherited by every child from now on)."""
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    os.environ[TAG_VARIABLE] = tag
    return tag


def tagged_processes(tag: str) -> dict[int, str]:
    """Live processes (pid -> command line) whose environment carries ``tag``; never this one."""
    marker = f"{TAG_VARIABLE}={tag}".encode() + b"\0"
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker not in (entry / "environ").read_bytes() + b"\0":
                continue
            found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def leftover_processes(tag: str, grace: float = 20.0) -> dict[int, str]:
    """The tagged processes still alive after ``grace`` seconds (stopping ones get that long)."""
    deadline = time.monotonic() + grace
    while (alive := tagged_processes(tag)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return alive
