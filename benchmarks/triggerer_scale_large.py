"""
Triggerer scale, one order further, with the workers and driver of ``triggerer_scale``:

- ``scale10k``: N=10,000 ``RayJobTrigger`` waiting in one worker process (one event loop, one
  shared watch) on 10,000 suspended RayJobs in the harness's etcd. Besides detection latency, loop
  lag, requests and memory it reports how long it takes until all of them run: the creation of the
  RayJobs (8 client threads), and the worker's start until every trigger has read its RayJob and waits.
- ``scale2proc``: N=1,000 split across two worker processes (two triggerers, each its own loop and
  watch), per process and combined, against one process holding all 1,000 (runs interleaved).

The RayJobs are created suspended (the KubeRay operator only marks them ``Suspended``: no cluster,
no pod) and deleted with their namespace afterwards.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from benchmarks import triggerer_scale as scale
from benchmarks.common import Row, fmt, median, percentile, verdict

LARGE_N = int(os.environ.get("BENCH_SCALE_LARGE_N", "10000"))
LARGE_RUNS = int(os.environ.get("BENCH_SCALE_LARGE_RUNS", "2"))
# One more N=10,000 run with the shared watch's 15 s re-list moved out of the measurement (a diagnosis).
DIAGNOSE = os.environ.get("BENCH_SCALE_LARGE_DIAGNOSE", "1") == "1"
SPLIT_N = int(os.environ.get("BENCH_SCALE_SPLIT_N", "1000"))
SPLIT_RUNS = int(os.environ.get("BENCH_SCALE_SPLIT_RUNS", "3"))
# A shared watch re-lists its kind every 15 s: one such list may fall in the 5 s window (0.2 req/s).
QUIET_RPS = 1 / scale.STEADY_SECONDS


def load() -> str:
    """The machine's 1-minute load average (other benchmarks and tests share it)."""
    return f"{os.getloadavg()[0]:.1f}"


def run_large(kubeconfig: str) -> list[Row]:
    api, custom = scale.connect(kubeconfig)
    namespace = f"bench-scale-large-{LARGE_N}-{os.getpid()}"
    loads = [load()]
    created = scale.setup(api, custom, namespace, LARGE_N)
    try:
        results = []
        for index in range(LARGE_RUNS):
            results.append(scale._one_run(api, custom, "provider", namespace, LARGE_N))
            loads.append(load())
            print(f"  triggerer scale N={LARGE_N}: run {index + 1}/{LARGE_RUNS} done", file=sys.stderr, flush=True)
        quiet: list[dict[str, Any]] = []
        diagnosis_error = ""
        if DIAGNOSE:  # its failure must not cost the runs above
            env = {scale.RESYNC_VARIABLE: "3600"}
            try:
                quiet.append(scale._one_run(api, custom, "provider", namespace, LARGE_N, env=env))
            except Exception as err:
                diagnosis_error = f"{type(err).__name__}: {err}"[:300]
            loads.append(load())
    finally:
        scale.teardown(api, custom, namespace)
    rows = _large_rows(results, created, loads) + _diagnosis_rows(quiet)
    if diagnosis_error:
        rows.append(Row("triggerer scale 10k", f"N={LARGE_N}, diagnosis run", f"FAILED: {diagnosis_error}", met="NO"))
    return rows


def _diagnosis_rows(results: list[dict[str, Any]]) -> list[Row]:
    if not results:
        return []
    from airflow_provider_kuberay.triggers.watch_hub import RESYNC_SECONDS as RESYNC

    r = results[0]
    return [Row(
        "triggerer scale 10k", f"N={LARGE_N}, diagnosis: the same with the shared watch's {RESYNC:g} s re-list off: "
        "detection p99 / loop lag max / loop lag p99", f"{fmt(percentile(r['latency'], 99), ' s')} / "
        f"{fmt(max(r['lags']) * 1000, ' ms')} / {fmt(percentile(r['lags'], 99) * 1000, ' ms')}", runs="1",
    )]  # fmt: skip


def _large_rows(results: list[dict[str, Any]], created: float, loads: list[str]) -> list[Row]:
    name, n, runs = "triggerer scale 10k", f"N={LARGE_N}", str(len(results))
    p50, p99 = _median_of(results, "latency", 50), _median_of(results, "latency", 99)
    lag_p99 = _median_of(results, "lags", 99)
    lag_max = median([max(r["lags"]) for r in results if r["lags"]])
    rps = median([r["steady_rps"] for r in results])
    added = median([r["rss_added"] for r in results])
    return [
        Row(name, f"{n}: RayJobs created (8 client threads)", fmt(created, " s"), runs="1"),
        Row(name, f"{n}: worker start until every trigger waits (process start incl. imports / first trigger on)",
            f"{fmt(median([r['all_ready_s'] for r in results]), ' s')} / "
            f"{fmt(median([r['start_s'] for r in results]), ' s')}", runs=runs),
        Row(name, f"{n}: detection latency p50 / p99", f"{fmt(p50, ' s')} / {fmt(p99, ' s')}",
            goal="p99 < 1 s", met=verdict(p99 < 1.0), runs=runs),
        Row(name, f"{n}: loop lag max / p99", f"{fmt(lag_max * 1000, ' ms')} / {fmt(lag_p99 * 1000, ' ms')}",
            goal="p99 < 20 ms", met=verdict(lag_p99 < 0.020), runs=runs),
        Row(name, f"{n}: API requests/s while waiting", fmt(rps, " req/s"),
            goal="0 (one 15 s re-list may fall in the window)", met=verdict(rps <= QUIET_RPS + 1e-9), runs=runs),
        Row(name, f"{n}: peak RSS added by the waiters (process peak)",
            f"{fmt(added, ' MB')} ({fmt(median([r['rss'] for r in results]), ' MB')})", goal="< 400 MB",
            met=verdict(added < 400), runs=runs),
        Row(name, f"{n}: CPU s (wait + detect) / time to patch all N (sequential client)",
            f"{fmt(median([r['cpu_s'] for r in results]), ' s')} / "
            f"{fmt(median([r['patch_s'] for r in results]), ' s')}", runs=runs),
        Row(name, f"{n}: load average (1 min) at start, after each run", " / ".join(loads)),
    ]  # fmt: skip


def run_split(kubeconfig: str) -> list[Row]:
    api, custom = scale.connect(kubeconfig)
    namespace = f"bench-scale-split-{SPLIT_N}-{os.getpid()}"
    loads = [load()]
    scale.setup(api, custom, namespace, SPLIT_N)
    single: list[dict[str, Any]] = []
    split: list[dict[str, Any]] = []
    try:
        for index in range(SPLIT_RUNS):  # interleaved: both see the same load
            single.append(scale._one_run(api, custom, "provider", namespace, SPLIT_N))
            split.append(scale._one_run(api, custom, "provider", namespace, SPLIT_N, shards=2))
            loads.append(load())
            print(f"  triggerer scale N={SPLIT_N} one vs two processes: run {index + 1}/{SPLIT_RUNS} done",
                  file=sys.stderr, flush=True)  # fmt: skip
    finally:
        scale.teardown(api, custom, namespace)
    return _split_rows(single, split, loads)


def _split_rows(single: list[dict[str, Any]], split: list[dict[str, Any]], loads: list[str]) -> list[Row]:
    name, runs = "triggerer scale 2 processes", str(len(split))
    n = f"N={SPLIT_N}"
    rows: list[Row] = []
    for shard in range(2):
        part = [r["shards"][shard] for r in split]
        rows.append(Row(
            name, f"{n} over 2 triggerers, process {shard + 1} ({SPLIT_N // 2} triggers): detection p99 / loop lag "
            "p99 / RSS added / CPU s", f"{fmt(_median_of(part, 'latency', 99), ' s')} / "
            f"{fmt(_median_of(part, 'lags', 99) * 1000, ' ms')} / {fmt(_median_key(part, 'rss_added'), ' MB')} / "
            f"{fmt(_median_key(part, 'cpu_s'), ' s')}", runs=runs,
        ))  # fmt: skip
    metrics: tuple[tuple[str, Callable[[list[dict[str, Any]]], float], str, str, float | None], ...] = (
        ("detection latency p99", lambda rs: _median_of(rs, "latency", 99), " s", "p99 < 1 s", 1.0),
        ("loop lag p99", lambda rs: _median_of(rs, "lags", 99) * 1000, " ms", "p99 < 20 ms", 20.0),
        ("API requests/s while waiting (both watches)", lambda rs: _median_key(rs, "steady_rps"), " req/s", "", None),
        ("peak RSS added (sum of the processes)", lambda rs: _median_key(rs, "rss_added"), " MB", "", None),
        ("CPU s (sum of the processes)", lambda rs: _median_key(rs, "cpu_s"), " s", "", None),
        ("worker start until every trigger waits", lambda rs: _median_key(rs, "all_ready_s"), " s", "", None),
    )
    for label, of, unit, goal, bound in metrics:
        value, base = of(split), of(single)
        ratio = f"{value / base:.2f}x" if base else ""
        rows.append(Row(name, f"{n} over 2 triggerers, combined: {label}", fmt(value, unit),
                        baseline=f"{fmt(base, unit)} (1 process)", ratio=ratio, goal=goal,
                        met=verdict(value < bound) if bound is not None else "", runs=runs))  # fmt: skip
    rows.append(Row(name, f"{n}: load average (1 min) at start, after each pair of runs", " / ".join(loads)))
    return rows


def _median_key(results: list[dict[str, Any]], key: str) -> float:
    return median([r[key] for r in results])


def _median_of(results: list[dict[str, Any]], key: str, q: float) -> float:
    return median([percentile(r[key], q) for r in results])


if __name__ == "__main__":
    for row in [*run_large(os.environ["KUBECONFIG"]), *run_split(os.environ["KUBECONFIG"])]:
        print(row)
