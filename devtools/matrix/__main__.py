"""``python -m devtools.matrix [--cells a,b] [--write tests/MATRIX.md] [--prepare]``: run the cells one
after another (with ``--prepare``, only build their venvs and operators, for a later run)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from devtools.matrix.cells import Cell, select
from devtools.matrix.report import markdown, save, text_table
from devtools.matrix.run import LOGS, prepare_cell, run_cell


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.matrix", description=__doc__)
    parser.add_argument("--cells", default="", help="comma-separated cell names (default: every cell)")
    parser.add_argument("--write", type=Path, help="write every cell's last result as a Markdown table here")
    parser.add_argument("--prepare", action="store_true", help="only build what the cells run in; run nothing")
    args = parser.parse_args(argv)
    cells = select(args.cells)
    if args.prepare:
        return _prepare(cells)
    outcomes = []
    for cell in cells:  # one at a time: the cells share the machine with whatever else runs on it
        print(f"matrix: {cell.name} ...", flush=True)
        outcome = run_cell(cell)
        verdict = "passed" if outcome.ok else "FAILED"
        print(f"matrix: {cell.name} {verdict} in {outcome.seconds / 60:.1f} min", flush=True)
        outcomes.append(outcome)
        save([outcome])
    print(text_table(outcomes))
    if args.write:
        args.write.write_text(markdown())
    return 0 if all(outcome.ok for outcome in outcomes) else 1


def _prepare(cells: Sequence[Cell]) -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    failed = 0
    for cell in cells:
        log = LOGS / f"{cell.name}.prepare.log"
        log.write_text("")
        started = time.monotonic()
        try:
            prepare_cell(cell, log)
        except (RuntimeError, subprocess.CalledProcessError) as err:
            failed += 1  # its run builds again and reports it
            print(f"matrix: preparing {cell.name} failed: {err} (see {log})", flush=True)
            continue
        print(f"matrix: {cell.name} prepared in {(time.monotonic() - started) / 60:.1f} min", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
