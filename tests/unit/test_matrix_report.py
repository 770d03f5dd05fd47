"""tests/MATRIX.md as `make test-matrix` rewrites it: a run of some cells on a machine that never ran the
others (CI's fresh clone runs two) replaces those cells' rows and keeps every other row and the notes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools.matrix import report
from devtools.matrix.cells import CELLS
from tests.conftest import ROOT

COMMITTED = (ROOT / "tests" / "MATRIX.md").read_text()


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This machine's stored results: none yet."""
    monkeypatch.setattr(report, "_RESULTS", tmp_path)
    return tmp_path


def _row(text: str, cell: str) -> str:
    (line,) = [line for line in text.splitlines() if line.startswith(f"| {cell} |")]
    return line


def test_with_no_result_of_its_own_the_committed_table_comes_back_unchanged(results: Path) -> None:
    assert report.markdown(COMMITTED) == COMMITTED


def test_a_cell_run_here_replaces_its_row_only_and_the_notes_stay(results: Path) -> None:
    floor = CELLS[0].name
    row = [floor, "3.11", "3.1.2 (floors)", "2.60.0", "tests/unit tests/airflow", "passed", "1171", "0", "1", "4.8 min"]
    (results / f"{floor}.json").write_text(json.dumps({"row": row, "day": "2026-12-01"}))

    written = report.markdown(COMMITTED)

    assert _row(written, floor) == "| " + " | ".join([*row, "2026-12-01"]) + " |"
    for cell in CELLS[1:]:
        assert _row(written, cell.name) == _row(COMMITTED, cell.name)
    notes = COMMITTED[COMMITTED.index("\n## ") :]
    assert written.endswith(notes)


def test_a_cell_the_old_file_lacks_is_not_run(results: Path) -> None:
    last = CELLS[-1].name
    without = "\n".join(line for line in COMMITTED.splitlines() if not line.startswith(f"| {last} |"))

    assert "| not run |" in _row(report.markdown(without), last)
    assert "not run" not in report.markdown(without).replace(_row(report.markdown(without), last), "")


def test_a_first_file_has_every_cell_not_run(results: Path) -> None:
    written = report.markdown()

    assert all("| not run |" in _row(written, cell.name) for cell in CELLS)
    assert written.endswith("|\n")
