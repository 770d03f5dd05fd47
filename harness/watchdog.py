"""Stops a harness when the process that owns it dies without doing so.

    python -m harness.watchdog --owner PID --run-dir DIR

Started first by ``controlplane.up(owner_pid=...)`` (pytest passes its own PID), so even a
SIGKILL of pytest in the middle of starting the harness leaves nothing behind.
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from pathlib import Path

from devtools.processes import alive


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.watchdog")
    ap.add_argument("--owner", type=int, required=True)
    ap.add_argument("--run-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    stopping = False

    def on_term(*_: object) -> None:
        nonlocal stopping
        stopping = True  # a normal `down` stops us: nothing else to do

    signal.signal(signal.SIGTERM, on_term)
    while not stopping and alive(args.owner):
        time.sleep(1.0)
    if stopping:
        return 0
    from harness import controlplane

    print(f"[harness.watchdog] owner {args.owner} is gone: stopping the harness", flush=True)
    controlplane.down(args.run_dir, skip_pid=os.getpid())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
