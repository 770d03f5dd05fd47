"""Shared pieces of the benchmarks: an isolated Airflow home, statistics, result rows."""

from __future__ import annotations

import os
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def isolated_airflow_home() -> Path:
    """Point Airflow at a fresh AIRFLOW_HOME on SQLite (before Airflow is imported), as the tests do."""
    if os.environ.get("KUBERAY_BENCH_AIRFLOW_HOME"):
        return Path(os.environ["KUBERAY_BENCH_AIRFLOW_HOME"])
    home = Path(tempfile.mkdtemp(prefix="kuberay-bench-airflow-"))
    dags = home / "dags"
    dags.mkdir()
    os.environ.update(
        {
            "KUBERAY_BENCH_AIRFLOW_HOME": str(home),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "RAY_USAGE_STATS_ENABLED": "0",
        }
    )
    return home


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class Row:
    """One line of the results table."""

    benchmark: str
    metric: str
    value: str
    baseline: str = ""
    ratio: str = ""
    goal: str = ""
    met: str = ""
    runs: str = ""


def fmt(value: float, unit: str = "", digits: int = 3) -> str:
    if value != value:  # NaN
        return "n/a"
    return f"{value:.{digits}g}{unit}" if abs(value) < 1000 else f"{value:.0f}{unit}"


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("yes" if ok else "NO")
