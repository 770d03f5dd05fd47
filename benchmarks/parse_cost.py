"""
Parse cost: what importing the provider costs a DAG file, in fresh processes.

Provider = every public operator, sensor and the ``@task.kuberay`` and ``@task.ray`` decorators; baseline = ``from
airflow.sdk import BaseOperator``; peer = cncf.kubernetes's ``KubernetesPodOperator``. The import
is timed inside each fresh interpreter (interpreter start-up is the same for all three). Also the
time Airflow's DagBag takes to parse each example DAG file, in a fresh process with DagBag already
imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.common import ROOT, Row, fmt, isolated_airflow_home, median, verdict

RUNS = 7

_TIMED = """
import time, json
t0 = time.perf_counter()
{body}
print(json.dumps(time.perf_counter() - t0))
"""

CASES = {
    "baseline": "from airflow.sdk import BaseOperator",
    "provider": (
        "from airflow_provider_kuberay.operators import (KubeRayCreateClusterOperator, KubeRayDeleteClusterOperator,"
        " KubeRayRunJobOperator, KubeRaySubmitJobOperator)\n"
        "from airflow_provider_kuberay.sensors import KubeRayClusterSensor, KubeRayJobSensor\n"
        "from airflow_provider_kuberay.decorators.kuberay import kuberay_task\n"
        "from airflow_provider_kuberay.decorators.ray import ray_task"
    ),
    "peer": "from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator",
}

_DAGBAG = """
import json, time
from airflow.dag_processing.dagbag import DagBag
t0 = time.perf_counter()
bag = DagBag(dag_folder={path!r}, safe_mode=False)
elapsed = time.perf_counter() - t0
assert not bag.import_errors and bag.dag_ids, (bag.import_errors, bag.dag_ids)
print(json.dumps(elapsed))
"""


def _time(code: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=os.environ.copy()
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def measure() -> dict[str, list[float]]:
    isolated_airflow_home()
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    _time(_TIMED.format(body=CASES["provider"]))  # warm the bytecode caches once
    _time(_TIMED.format(body=CASES["peer"]))
    for _ in range(RUNS):  # interleaved, so drift hits every case alike
        for name, body in CASES.items():
            samples[name].append(_time(_TIMED.format(body=body)))
    for path in sorted((ROOT / "example_dags").glob("example_*.py")):
        _time(_DAGBAG.format(path=str(path)))
        samples[f"dagbag:{path.name}"] = [_time(_DAGBAG.format(path=str(path))) for _ in range(RUNS)]
    return samples


def run() -> list[Row]:
    samples = measure()
    base = median(samples["baseline"])
    provider = median(samples["provider"])
    peer = median(samples["peer"])
    ratio = provider / base
    rows = [
        Row("parse cost", "import `from airflow.sdk import BaseOperator` (baseline)", fmt(base * 1000, " ms"),
            runs=str(RUNS)),
        Row("parse cost", "import all operators + sensors + @task.kuberay", fmt(provider * 1000, " ms"),
            fmt(base * 1000, " ms"), f"{ratio:.3f}x", "<= 1.05x baseline", verdict(ratio <= 1.05), str(RUNS)),
        Row("parse cost", "import KubernetesPodOperator (peer)", fmt(peer * 1000, " ms"), fmt(base * 1000, " ms"),
            f"{peer / base:.3f}x", "", "", str(RUNS)),
    ]  # fmt: skip
    for key, values in samples.items():
        if key.startswith("dagbag:"):
            rows.append(Row("parse cost", f"DagBag parse of {Path(key[7:]).name}", fmt(median(values) * 1000, " ms"),
                            runs=str(RUNS)))  # fmt: skip
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
