"""Act from a background thread once a condition holds: how a test plays the other side of a wait."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


def act_once(ready: Callable[[], Any], action: Callable[[], Any], timeout: float = 60.0) -> None:
    """Run ``action`` in a thread as soon as ``ready()`` holds, and at the latest after ``timeout``.

    Waiting for the state, not a fixed delay: under load the code under test may take longer to get there.
    """

    def wait_then_act() -> None:
        deadline = time.monotonic() + timeout
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        action()

    threading.Thread(target=wait_then_act, daemon=True).start()
