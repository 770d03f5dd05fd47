"""
``make bench``: run every benchmark on this machine, print one table, write ``benchmarks/RESULTS.md``.

Order: parse cost, job overhead, job end latency, log latency, triggerer scale (N up to 1,000;
N=10,000; N=1,000 over two triggerer processes), then one job end to end in a real Airflow
deployment. The Kubernetes control plane of the harness is started once for the benchmarks that
need it (or the cluster in ``KUBECONFIG`` is used) and always stopped.
``BENCH_ONLY=parse,job,end,log,scale,scale10k,scale2proc,e2e`` runs a subset.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import ROOT, Row, isolated_airflow_home

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
ALL = ("parse", "job", "end", "log", "scale", "scale10k", "scale2proc", "e2e")  # the BENCH_ONLY keys
KUBE = {"log", "scale", "scale10k", "scale2proc"}
COLUMNS = ("benchmark", "metric", "value", "baseline", "ratio", "goal", "met", "runs")


def _versions() -> str:
    names = ("apache-airflow", "apache-airflow-task-sdk", "apache-airflow-providers-cncf-kubernetes", "ray",
             "kubernetes", "kubernetes_asyncio", "aiohttp")  # fmt: skip
    found = []
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"{name} {importlib.metadata.version(name)}")
    return ", ".join([f"Python {platform.python_version()}", *found])


def _machine() -> str:
    cpu = ""
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with open("/proc/meminfo") as info:
        mem = f"{int(info.readline().split()[1]) / 1024 / 1024:.0f} GiB"
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), {mem} RAM"


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip
        status = ["git", "status", "--porcelain", "--untracked-files=no", "--", "airflow_provider_kuberay"]
        dirty = subprocess.run(status, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        return head + (" + uncommitted provider changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def table(rows: list[Row]) -> str:
    cells = [list(COLUMNS)] + [[str(getattr(row, c)) for c in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    out = []
    for index, line in enumerate(cells):
        out.append("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)) + " |")
        if index == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def _guarded(name: str, fn: Callable[[], list[Row]]) -> list[Row]:
    started = time.monotonic()
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    try:
        rows = fn()
    except Exception as err:  # one broken benchmark must not hide the others: it shows in the table
        traceback.print_exc()
        rows = [Row(name, "FAILED", f"{type(err).__name__}: {err}"[:200], met="NO")]
    print(f"[bench] {name} done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return rows


def main() -> int:
    isolated_airflow_home()
    from benchmarks import deploy_end_to_end, job_end, job_overhead, log_latency, parse_cost, triggerer_scale
    from benchmarks import triggerer_scale_large as scale_large

    only = set(filter(None, os.environ.get("BENCH_ONLY", ",".join(ALL)).split(",")))
    started = time.monotonic()
    rows: list[Row] = []
    if "parse" in only:
        rows += _guarded("parse cost", parse_cost.run)
    if "job" in only:
        rows += _guarded("job overhead", job_overhead.run)
    if "end" in only:
        rows += _guarded("job end seen", job_end.run)
    kube_notes = ""
    if only & KUBE:
        kubeconfig = os.environ.get("KUBECONFIG")
        run_dir: Path | None = None
        if not kubeconfig:
            from harness import controlplane

            run_dir = Path(tempfile.mkdtemp(prefix="kuberay-bench-harness-"))
            try:
                kubeconfig = controlplane.up(run_dir, log=lambda *a: print(*a, file=sys.stderr),
                                             owner_pid=os.getpid()).kubeconfig  # fmt: skip
                kube_notes = "the harness (kube-apiserver + etcd + KubeRay operator on loopback)"
            except Exception as err:
                traceback.print_exc()
                kube_notes = f"NOT RUN: the harness did not start ({err})"
                kubeconfig = None
        else:
            kube_notes = f"the cluster in KUBECONFIG ({kubeconfig})"
        try:
            if "log" in only:
                rows += _guarded("log latency", lambda: log_latency.run(kubeconfig))
            scales = (("scale", "triggerer scale", triggerer_scale.run),
                      ("scale10k", "triggerer scale 10k", scale_large.run_large),
                      ("scale2proc", "triggerer scale 2 processes", scale_large.run_split))  # fmt: skip
            for key, name, bench in scales:
                if key not in only:
                    continue
                if kubeconfig:
                    rows += _guarded(name, functools.partial(bench, kubeconfig))
                else:
                    rows.append(Row(name, "NOT RUN", kube_notes, met="NO"))
        finally:
            if run_dir is not None:
                from harness import controlplane

                controlplane.down(run_dir, log=lambda *a: print(*a, file=sys.stderr))
                shutil.rmtree(run_dir, ignore_errors=True)
    if "e2e" in only:
        rows += _guarded("end to end (deployment)", deploy_end_to_end.run)
    elapsed = time.monotonic() - started
    rendered = table(rows)
    print(rendered)
    if only == set(ALL):
        RESULTS.write_text(_report(rendered, elapsed, kube_notes))
        print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    return 0


def _report(rendered: str, elapsed: float, kube_notes: str) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""# Benchmark results

Written by `make bench` (`python -m benchmarks`); do not edit by hand.

- Date: {now} (commit {_commit()}; whole run {elapsed / 60:.1f} min)
- Machine: {_machine()}
- Versions: {_versions()}
- Kubernetes side: {kube_notes or "not used"}

Every value is the median over the runs shown (each run a fresh process or a fresh job) unless its
metric says otherwise (a mean with its 95% interval, a percentile); every
baseline was measured in the same run, interleaved where possible. See each module's docstring
in `benchmarks/` for what exactly is timed.

{rendered}

Notes:
- Parse cost: the import is timed inside fresh interpreters; "DagBag parse" is Airflow's
  DagBag filling from one example file in a fresh process that has already imported DagBag.
- Job overhead: each pair of runs gives both ways the same job, `time.sleep` of a random
  0.5-1.5 s (so its end falls at a random phase of both 1 s polls), in a random order; the job's
  own runtime is Ray's `end_time - start_time`. (b) runs the operator's `execute`, its deferred
  `RayDashboardJobTrigger` in-process and `execute_complete`, with `poll_interval=1.0` like (a).
  The ratio's interval is a paired bootstrap.
- Job end seen: from Ray's `end_time` (set when Ray records the terminal status) to the client
  seeing it, or the trigger yielding its event; short jobs of random length, 4 at a time, the
  triggers in one event loop. The trigger keeps the operator's default `poll_interval` (5 s): it
  sees the end through Ray's job supervisor log (followed through the dashboard's log stream).
- Log latency: delay from the job printing a line (its timestamp) to the trigger logging it
  to the task's logger, 40 lines per job at 100 ms.
- Triggerer scale: RayJobs are created suspended; their status is patched to `Complete`/`SUCCEEDED`
  one by one by a sequential client, and latency counts from just before each patch request.
  Requests/s are those the API server counted for rayjobs (GET/LIST/WATCH) during {5:g} s of waiting.
  RSS "added" is the worker's peak minus its RSS with Airflow and the provider imported, before
  any trigger ran (the process peak is in brackets). N=10,000 and the two-process split use the
  same workers (`benchmarks/triggerer_scale_large.py`); the split's baseline is one process holding
  all N, its runs interleaved with the split's.
- End to end: the deploy tier's Airflow deployment (Postgres, API server, scheduler, DAG processor,
  two triggerers, LocalExecutor) runs `deploy_numbered_lines` against a local Ray head; each step
  is read from the run's and task instance's REST timestamps, the task log's timestamps and Ray's
  job start/end times, and names the settings that govern it (`benchmarks/deploy_end_to_end.py`).
"""


if __name__ == "__main__":
    sys.exit(main())
