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


# Two-sided 95% quantiles of Student's t by degrees of freedom (beyond the table: the normal's).
_T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26, 10: 2.23, 15: 2.13,
        20: 2.09, 30: 2.04, 40: 2.02, 60: 2.00, 120: 1.98}  # fmt: skip


def mean_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """The mean and its 95% confidence interval (Student's t): ``(mean, low, high)``."""
    if len(values) < 2:
        only = values[0] if values else float("nan")
        return only, float("nan"), float("nan")
    mean = statistics.fmean(values)
    dof = len(values) - 1
    t = next((_T95[k] for k in sorted(_T95) if k >= dof), 1.96)
    half = t * statistics.stdev(values) / len(values) ** 0.5
    return mean, mean - half, mean + half


def ratio_interval(
    numerators: Sequence[float], denominators: Sequence[float], resamples: int = 5000
) -> tuple[float, float, float]:
    """
    The ratio of two means over paired runs and its 95% interval (a paired bootstrap with a fixed
    seed, so a rerun on the same data gives the same interval): ``(ratio, low, high)``.
    """
    import random

    pairs = list(zip(numerators, denominators, strict=True))
    draw = random.Random(20261129)
    ratio = statistics.fmean(numerators) / statistics.fmean(denominators)
    ratios = []
    for _ in range(resamples):
        sample = [pairs[draw.randrange(len(pairs))] for _ in pairs]
        ratios.append(sum(a for a, _ in sample) / sum(b for _, b in sample))
    ratios.sort()
    return ratio, ratios[int(0.025 * resamples)], ratios[int(0.975 * resamples) - 1]


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
