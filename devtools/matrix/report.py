"""The matrix table: printed after a run, and written to tests/MATRIX.md after a run of every cell."""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from datetime import datetime, timezone

from devtools.matrix.cells import CELLS
from devtools.matrix.envs import MATRIX_DIR
from devtools.matrix.run import Outcome

_RESULTS = MATRIX_DIR / "results"

_HEADER = ("Cell", "Python", "Airflow", "Ray head", "Tests", "Result", "Passed", "Failed", "Skipped", "Time")


def rows(outcomes: Sequence[Outcome]) -> list[tuple[str, ...]]:
    return [
        (
            o.cell.name,
            o.cell.python,
            o.airflow + (" (floors)" if o.cell.floors else ""),
            o.cell.ray.version if o.cell.ray else "-",
            " ".join(o.cell.tests),
            ("passed" if o.ok else "FAILED") + (f" ({o.reruns} rerun)" if o.reruns and o.ok else ""),
            str(o.passed),
            str(o.failed),
            str(o.skipped),
            f"{o.seconds / 60:.1f} min",
        )
        for o in outcomes
    ]


def text_table(outcomes: Sequence[Outcome]) -> str:
    table = [_HEADER, *rows(outcomes)]
    widths = [max(len(row[i]) for row in table) for i in range(len(_HEADER))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in table]
    lines.insert(1, "  ".join("-" * width for width in widths))
    notes = [f"{o.cell.name}: {o.note}" for o in outcomes if o.note]
    return "\n".join(lines + notes)


def save(outcomes: Sequence[Outcome]) -> None:
    """Keep each cell's row (with the day it ran), so MATRIX.md can gather cells run at different times."""
    _RESULTS.mkdir(parents=True, exist_ok=True)
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    for outcome, row in zip(outcomes, rows(outcomes), strict=True):
        (_RESULTS / f"{outcome.cell.name}.json").write_text(json.dumps({"row": row, "day": day}))


def _stored_row(name: str, previous: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    stored = _RESULTS / f"{name}.json"
    if not stored.exists():
        if name in previous:  # run elsewhere (this machine has no result of it): keep what the file said
            return previous[name]
        cell = next(c for c in CELLS if c.name == name)
        return (name, cell.python, cell.airflow or "-", cell.ray.version if cell.ray else "-", " ".join(cell.tests),
                "not run", "-", "-", "-", "-", "-")  # fmt: skip
    data = json.loads(stored.read_text())
    return (*data["row"], data["day"])


def _previous_rows(text: str) -> dict[str, tuple[str, ...]]:
    """The rows of a MATRIX.md table, by cell name."""
    names = {cell.name for cell in CELLS}
    found: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        row = tuple(part.strip() for part in line.strip().strip("|").split("|"))
        if line.startswith("| ") and len(row) == len(_HEADER) + 1 and row[0] in names:
            found[row[0]] = row
    return found


def _notes_after_table(text: str) -> str:
    lines = text.splitlines()
    table = [i for i, line in enumerate(lines) if line.startswith("|")]
    return "\n".join(lines[table[-1] + 1 :]).rstrip() + "\n" if table else ""


def markdown(previous: str = "") -> str:
    """
    The table of every cell's last result, and the notes below it.

    :param previous: the MATRIX.md being rewritten. A cell this machine never ran keeps its row from it
        (``not run`` if it has none), so a fresh clone's partial run (CI runs two cells) loses nothing;
        its notes on the runs are kept as they are.
    """
    header = (*_HEADER, "Run on")
    lines = [
        "# Version matrix",
        "",
        f"Written by `make test-matrix` ({platform.system()} {platform.machine()}) from each cell's last run. Each",
        "cell is its own venv under `.matrix/` built from `pyproject.toml`/`uv.lock`: the Airflow cells resolve",
        "each release as PyPI was on its release day (`uv --exclude-newer`), the floor cell pins every runtime",
        "dependency at the floor `pyproject.toml` declares, the Ray head runs from a venv of its own holding only",
        "that Ray, and a KubeRay cell runs the harness with that release's operator and its own CRDs.",
        "A `(n rerun)` result: n tests failed on a loaded machine and passed when run again alone.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    kept = _previous_rows(previous)
    lines += ["| " + " | ".join(_stored_row(cell.name, kept)) + " |" for cell in CELLS]
    return "\n".join(lines) + "\n" + _notes_after_table(previous)
