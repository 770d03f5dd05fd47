"""The matrix table: printed after a run, and written to tests/MATRIX.md after a run of every cell."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from datetime import datetime, timezone

from devtools.matrix.run import Outcome

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


def markdown(outcomes: Sequence[Outcome]) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    lines = [
        "# Version matrix",
        "",
        f"Written by `make test-matrix` on {when} ({platform.system()} {platform.machine()}). Each cell is its own",
        "venv under `.matrix/` built from `pyproject.toml`/`uv.lock`: the Airflow cells resolve each release as",
        "PyPI was on its release day (`uv --exclude-newer`), the floor cell pins every runtime dependency at the",
        "floor `pyproject.toml` declares, and the Ray head runs from a venv of its own holding only that Ray.",
        "",
        "| " + " | ".join(_HEADER) + " |",
        "|" + "|".join("---" for _ in _HEADER) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows(outcomes)]
    return "\n".join(lines) + "\n"
