"""``python -m devtools.matrix [--cells a,b] [--write tests/MATRIX.md]``: run the cells one after another."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devtools.matrix.cells import select
from devtools.matrix.report import markdown, save, text_table
from devtools.matrix.run import run_cell


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.matrix", description=__doc__)
    parser.add_argument("--cells", default="", help="comma-separated cell names (default: every cell)")
    parser.add_argument("--write", type=Path, help="write every cell's last result as a Markdown table here")
    args = parser.parse_args(argv)
    cells = select(args.cells)
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
        args.write.write_text(markdown(args.write.read_text() if args.write.exists() else ""))
    return 0 if all(outcome.ok for outcome in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
