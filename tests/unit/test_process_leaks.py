"""The session's leak check finds a process the tests started, even one that left our process tree."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.support.process_leaks import TAG_VARIABLE, leftover_processes, tagged_processes


def test_a_detached_child_is_found_by_its_inherited_tag_and_gone_once_stopped() -> None:
    tag = os.environ[TAG_VARIABLE]  # set by tests/conftest.py for the whole session
    # A grandchild in its own session whose parent exits at once: re-parented, found only by its tag.
    spawn = (
        "import subprocess as sp, sys; sleeper = [sys.executable, '-c', 'import time; time.sleep(60)']; "
        "print(sp.Popen(sleeper, start_new_session=True, stdout=sp.DEVNULL, stderr=sp.DEVNULL).pid)"
    )
    launcher = subprocess.run([sys.executable, "-c", spawn], capture_output=True, text=True, check=True)
    orphan = int(launcher.stdout)
    try:
        # Found once its environment is readable: on a loaded machine a moment after its pid is known.
        deadline = time.monotonic() + 10
        while orphan not in tagged_processes(tag) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert orphan in tagged_processes(tag)
        assert orphan not in tagged_processes("some-other-session")
    finally:
        os.kill(orphan, 9)
    assert orphan not in leftover_processes(tag, grace=5)
