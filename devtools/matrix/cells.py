"""The cells of the version matrix: what each environment holds and which tests run in it."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# The Ray head every cell that needs one runs, unless it is a cell of the Ray axis.
NEWEST_RAY = "2.60.0"
UNIT_TIERS = ("tests/unit", "tests/airflow")
# The k8s tier of an older-operator cell: the field check on its CRDs, and a RayJob run end to end.
KUBERAY_TESTS = (
    "tests/k8s/test_crd_fields_on_k8s.py",
    "tests/k8s/test_provider_on_k8s.py::test_rayjob_on_its_own_cluster_succeeds_with_output_in_the_task_log",
)


@dataclass(frozen=True)
class RayHead:
    """
    The Ray of the local head the session fixture starts, installed in a venv of its own.

    :param version: the ``ray`` release.
    :param released: its release day; the venv resolves Ray's dependencies as they were then.
    :param python: the head venv's Python (a Ray release has wheels for a few Pythons only).
    """

    version: str
    released: str
    python: str = "3.11"

    @property
    def name(self) -> str:
        return f"ray-{self.version}-py{self.python}"


@dataclass(frozen=True)
class Cell:
    """
    One environment and the tests run in it.

    :param name: the cell's name (``make test-matrix CELLS=...`` selects by it).
    :param axis: the axis the cell stands for, for the table (airflow, python, ray, ...).
    :param python: the test venv's Python.
    :param tests: the pytest selection (paths, ``-m``/``-k`` expressions).
    :param airflow: the Airflow release pinned in the test venv; ``None`` keeps uv.lock's versions.
    :param exclude_newer: resolve the test venv as PyPI was on this day (that release's ecosystem).
    :param floors: pin every runtime dependency at the floor ``pyproject.toml`` declares.
    :param ray: the Ray head for the real-Ray and real-Airflow tiers; ``None`` where no test starts one.
    :param kuberay: the KubeRay release whose operator (built from its Go module) and own CRDs the
        Kubernetes harness runs; ``None``: the harness's defaults.
    :param env: extra environment of the pytest run.
    :param workers: pytest-xdist workers (1: one process). The unit tiers split well over both cores;
        the cells that start a Ray head or a harness per session keep one.
    """

    name: str
    axis: str
    python: str
    tests: tuple[str, ...]
    airflow: str | None = None
    exclude_newer: str | None = None
    floors: bool = False
    ray: RayHead | None = None
    kuberay: str | None = None
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    workers: int = 1

    @property
    def env_name(self) -> str:
        """Cells that build the same test venv share it."""
        parts = [f"py{self.python}", f"airflow-{self.airflow or 'locked'}"]
        if self.exclude_newer:
            parts.append(self.exclude_newer)
        if self.floors:
            parts.append("floors")
        return "-".join(parts)


RAY_OLDEST = RayHead("2.9.3", "2024-02-22")
RAY_MIDDLE = RayHead("2.40.0", "2024-12-03")
RAY_NEWEST = RayHead(NEWEST_RAY, "2026-11-04")


# A cell of the unit and real-Airflow tiers: the newest Ray's head, split over both cores.
unit_tiers_cell = functools.partial(Cell, tests=UNIT_TIERS, ray=RAY_NEWEST, workers=2)


CELLS: tuple[Cell, ...] = (
    # Airflow axis: the floor with every runtime dependency at its declared minimum, then the latest
    # patch of each 3.x minor resolved as PyPI was on its release day; 3.3 is uv.lock's (`make test`).
    unit_tiers_cell("airflow-floor", "airflow", "3.11", airflow="3.1.2", floors=True),
    unit_tiers_cell("airflow-3.1", "airflow", "3.11", airflow="3.1.8", exclude_newer="2026-03-12"),
    unit_tiers_cell("airflow-3.2", "airflow", "3.11", airflow="3.2.2", exclude_newer="2026-05-30"),
    unit_tiers_cell("airflow-3.3", "airflow", "3.11"),
    # Python axis: uv.lock's versions on every Python the package declares.
    unit_tiers_cell("python-3.10", "python", "3.10"),
    unit_tiers_cell("python-3.12", "python", "3.12"),
    unit_tiers_cell("python-3.13", "python", "3.13"),
    # Ray axis: the real-Ray tier against heads of the oldest supported, a middle and the newest Ray.
    Cell(f"ray-{RAY_OLDEST.version}", "ray", "3.11", ("tests/ray",), ray=RAY_OLDEST),
    Cell(f"ray-{RAY_MIDDLE.version}", "ray", "3.11", ("tests/ray",), ray=RAY_MIDDLE),
    Cell(f"ray-{RAY_NEWEST.version}", "ray", "3.11", ("tests/ray",), ray=RAY_NEWEST),
    # KubeRay axis: older operators, each with its release's own CRDs (v1.6.2 with v1.7.0's CRDs is `make test`).
    Cell("kuberay-v1.4.2", "kuberay", "3.11", KUBERAY_TESTS, ray=RAY_NEWEST, kuberay="v1.4.2"),
    Cell("kuberay-v1.5.1", "kuberay", "3.11", KUBERAY_TESTS, ray=RAY_NEWEST, kuberay="v1.5.1"),
    Cell("kuberay-v1.6.2", "kuberay", "3.11", KUBERAY_TESTS, ray=RAY_NEWEST, kuberay="v1.6.2"),
)


def select(names: str | None) -> tuple[Cell, ...]:
    """The cells named in a comma-separated list (all of them for ``None`` or an empty string)."""
    if not names:
        return CELLS
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    known = {cell.name: cell for cell in CELLS}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise SystemExit(f"unknown matrix cells {unknown}; known: {sorted(known)}")
    return tuple(known[name] for name in wanted)
