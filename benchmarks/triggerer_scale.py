"""
Triggerer scale: N concurrent RayJob triggers in one event loop against the harness's real API
server, on real RayJob objects (created suspended, so the KubeRay operator leaves them alone)
whose status the benchmark patches to ``Complete``/``SUCCEEDED`` at known times.

Each run is a fresh worker process (so CPU and peak RSS are its own) holding N waiters:
- provider: N ``RayJobTrigger`` (shared watch per connection/namespace/kind, default resync);
- naive baseline: N independent pollers, each with its own client, GET every ``NAIVE_INTERVAL``.
Detection latency = trigger event time - time the patch request was sent. Loop lag = oversleep of
a 10 ms ticker while the triggers wait and fire. Requests are counted at the API server
(``apiserver_request_total`` for rayjobs, all verbs but the benchmark's own PATCH/POST).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Row, fmt, isolated_airflow_home, median, percentile, verdict
from tests.support.loop_watchdog import first_event

SIZES = tuple(int(n) for n in os.environ.get("BENCH_SCALE_SIZES", "10,100,1000").split(","))
RUNS = int(os.environ.get("BENCH_SCALE_RUNS", "5"))
NAIVE_RUNS = {10: RUNS, 100: RUNS, 1000: min(RUNS, 2)}
NAIVE_INTERVAL = 1.0
STEADY_SECONDS = 5.0
CONN_ID = "kuberay_bench_scale"
GROUP, VERSION, PLURAL = "ray.io", "v1", "rayjobs"
# Set in a worker's environment, the seconds between the shared watch's re-lists (for a diagnosis).
RESYNC_VARIABLE = "BENCH_SCALE_RESYNC_SECONDS"


# ---------------------------------------------------------------- worker (one fresh process per run)


async def _ticker(lags: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(max(0.0, time.perf_counter() - before - 0.01))


async def _provider_waiters(names: list[str], namespace: str, ready: set[str], fired: dict[str, float]) -> None:
    from airflow_provider_kuberay.triggers.ray_job import RayJobTrigger

    class _Counted(RayJobTrigger):
        async def started(self, hook: Any, obj: dict[str, Any] | None) -> None:
            await super().started(hook, obj)
            ready.add(self.name)

    async def one(name: str) -> None:
        trigger = _Counted(name=name, namespace=namespace, kuberay_conn_id=CONN_ID, stream_logs=False)
        payload = await first_event(trigger)
        fired[name] = time.time()
        assert payload["outcome"] == "succeeded", payload

    await asyncio.gather(*(one(name) for name in names))


async def _naive_waiters(names: list[str], namespace: str, ready: set[str], fired: dict[str, float]) -> None:
    from airflow_provider_kuberay.hooks.kuberay_async import KubeRayAsyncHook
    from airflow_provider_kuberay.status import job_verdict

    async def one(name: str) -> None:
        async with KubeRayAsyncHook(CONN_ID) as hook:  # one client per task, as a naive trigger has
            while True:
                obj = await hook.find_object("RayJob", name, namespace)
                ready.add(name)
                if obj is not None and job_verdict(obj).terminal:
                    fired[name] = time.time()
                    return
                await asyncio.sleep(NAIVE_INTERVAL)

    await asyncio.gather(*(one(name) for name in names))


def shard_names(n: int, shard: int = 0, shards: int = 1) -> list[str]:
    """The RayJob names one of ``shards`` worker processes waits on (interleaved, so patches alternate)."""
    return [f"job-{i}" for i in range(n) if i % shards == shard]


async def _worker(mode: str, namespace: str, names: list[str], timeout: float) -> dict[str, Any]:
    base_rss = _rss_mb()  # Airflow and the provider loaded, no trigger yet: what any triggerer holds
    n = len(names)
    ready: set[str] = set()
    fired: dict[str, float] = {}
    lags: list[float] = []
    stop = asyncio.Event()
    waiting = _provider_waiters if mode == "provider" else _naive_waiters
    began = time.monotonic()
    waiters = asyncio.create_task(waiting(names, namespace, ready, fired))
    deadline = began + timeout
    while len(ready) < n:
        if waiters.done():
            waiters.result()
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(ready)}/{n} waiters started")
        await asyncio.sleep(0.05)
    start_s = time.monotonic() - began  # until every trigger has read its object (waiting)
    rss_started = _rss_mb()
    ticker = asyncio.create_task(_ticker(lags, stop))
    cpu0 = _cpu()
    print("READY", flush=True)
    await asyncio.wait_for(waiters, timeout=timeout)
    cpu = _cpu() - cpu0
    stop.set()
    await ticker
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"fired": fired, "lags": lags, "cpu_s": cpu, "peak_rss_mb": peak, "base_rss_mb": base_rss,
            "started_rss_mb": rss_started, "start_s": start_s}  # fmt: skip


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker_main(argv: list[str]) -> None:
    mode, namespace, n, out, shard, shards = argv[0], argv[1], int(argv[2]), Path(argv[3]), int(argv[4]), int(argv[5])
    isolated_airflow_home()
    # What a triggerer has loaded before any trigger runs: Airflow and the trigger modules.
    import airflow_provider_kuberay.triggers.ray_job  # noqa: F401

    if os.environ.get(RESYNC_VARIABLE):  # a diagnosis: the shared watch's periodic re-list, changed
        from airflow_provider_kuberay.triggers import watch_hub

        watch_hub.RESYNC_SECONDS = float(os.environ[RESYNC_VARIABLE])

    result = asyncio.run(_worker(mode, namespace, shard_names(n, shard, shards), timeout=max(300.0, n * 0.1)))
    out.write_text(json.dumps(result))


# ---------------------------------------------------------------- driver


def _clients(kubeconfig: str) -> tuple[Any, Any]:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=kubeconfig)
    return api, client.CustomObjectsApi(api)


def _rayjob(name: str, namespace: str) -> dict[str, Any]:
    container = {"name": "ray-head", "image": "rayproject/ray:2.52.0"}
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "RayJob", "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "entrypoint": "python -c 'print(1)'", "suspend": True, "shutdownAfterJobFinishes": True,
            "rayClusterSpec": {"rayVersion": "2.52.0", "headGroupSpec": {"rayStartParams": {},
                               "template": {"spec": {"containers": [container]}}}},
        },
    }  # fmt: skip


def _requests(api: Any) -> float:
    """RayJob requests the API server has answered, but the benchmark's own writes."""
    answer = api.call_api(
        "/metrics", "GET", auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True
    )
    text = answer.data.decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("apiserver_request_total{") and 'resource="rayjobs"' in line:
            if 'verb="PATCH"' in line or 'verb="POST"' in line or 'verb="DELETE"' in line:
                continue
            total += float(line.rsplit(" ", 1)[1])
    return total


def _set_status(custom: Any, namespace: str, name: str, status: dict[str, Any]) -> None:
    custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, name, {"status": status})


NOT_DONE = {"jobDeploymentStatus": "Suspended", "jobStatus": ""}
DONE = {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}


def _start_worker(
    mode: str, namespace: str, n: int, out: Path, shard: int, shards: int, env: dict[str, str]
) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "benchmarks.triggerer_scale", "worker", mode, namespace, str(n), str(out),
               str(shard), str(shards)]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, **env})


def _await_ready(worker: subprocess.Popen[str]) -> None:
    assert worker.stdout is not None
    for line in worker.stdout:
        if line.strip() == "READY":
            return
    raise RuntimeError(f"worker exited before READY ({worker.wait()})")


def _one_run(
    api: Any, custom: Any, mode: str, namespace: str, n: int, shards: int = 1, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """
    One run: ``shards`` worker processes (each its own loop and watch) wait on the N RayJobs between
    them; the summary of each process is in ``"shards"``, the combined numbers at the top level.
    """
    names = shard_names(n)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: _set_status(custom, namespace, name, NOT_DONE), names))
    outs = [Path(tempfile.mkstemp(prefix="bench-scale-", suffix=".json")[1]) for _ in range(shards)]
    launched = time.monotonic()
    workers = [_start_worker(mode, namespace, n, outs[k], k, shards, env or {}) for k in range(shards)]
    try:
        for worker in workers:
            _await_ready(worker)
        all_ready_s = time.monotonic() - launched  # process start (imports included) to every trigger waiting
        requests0, t0 = _requests(api), time.monotonic()
        time.sleep(STEADY_SECONDS)
        steady = (_requests(api) - requests0) / (time.monotonic() - t0)
        patched: dict[str, float] = {}
        patch_started = time.monotonic()
        for name in names:  # sequential, at the rate one client can write
            patched[name] = time.time()
            _set_status(custom, namespace, name, DONE)
        patch_s = time.monotonic() - patch_started
        for worker in workers:
            if worker.wait(timeout=max(300.0, n * 0.1)) != 0:
                raise RuntimeError(f"worker failed ({worker.returncode})")
        results = [json.loads(out.read_text()) for out in outs]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        for out in outs:
            out.unlink(missing_ok=True)
    per_shard = [_summary(result, patched, steady / shards) for result in results]
    combined = {
        "latency": [x for s in per_shard for x in s["latency"]], "lags": [x for s in per_shard for x in s["lags"]],
        "steady_rps": steady, "cpu_s": sum(s["cpu_s"] for s in per_shard),
        "rss": sum(s["rss"] for s in per_shard), "rss_added": sum(s["rss_added"] for s in per_shard),
        "start_s": max(s["start_s"] for s in per_shard), "all_ready_s": all_ready_s, "patch_s": patch_s,
    }  # fmt: skip
    return {**combined, "shards": per_shard}


def _summary(result: dict[str, Any], patched: dict[str, float], steady_rps: float) -> dict[str, Any]:
    latencies = [fired - patched[name] for name, fired in result["fired"].items()]
    return {"latency": latencies, "lags": result["lags"], "steady_rps": steady_rps, "cpu_s": result["cpu_s"],
            "rss": result["peak_rss_mb"], "rss_added": result["peak_rss_mb"] - result["base_rss_mb"],
            "start_s": result["start_s"]}  # fmt: skip


def setup(api: Any, custom: Any, namespace: str, n: int) -> float:
    """Create the namespace and its N suspended RayJobs; the seconds the creation took."""
    from kubernetes import client

    client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        bodies = [_rayjob(f"job-{i}", namespace) for i in range(n)]
        list(pool.map(lambda body: custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body),
                      bodies))  # fmt: skip
    created = time.monotonic() - started
    time.sleep(2)  # let the operator see them (it marks them suspended) before the first run
    return created


def teardown(api: Any, custom: Any, namespace: str, timeout: float = 300.0) -> None:
    """Delete the RayJobs and their namespace, and wait (bounded) until the RayJobs are gone from etcd."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    except ApiException as err:  # a 504 at 10,000 objects: the API server goes on deleting, the wait below counts
        print(f"  {namespace}: deleting the RayJobs answered {err.status}; waiting for them", file=sys.stderr)
    client.CoreV1Api(api).delete_namespace(namespace)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, limit=1)
        if not left["items"]:
            return
        time.sleep(2)
    print(f"  {namespace}: RayJobs still there after {timeout:.0f} s", file=sys.stderr, flush=True)


def connect(kubeconfig: str) -> tuple[Any, Any]:
    """The benchmark's connection (for the workers, in the environment) and the driver's own clients."""
    isolated_airflow_home()
    extra = {"kube_config_path": kubeconfig, "namespace": "default"}
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps({"conn_type": "kuberay", "extra": extra})
    return _clients(kubeconfig)


def run(kubeconfig: str) -> list[Row]:
    api, custom = connect(kubeconfig)
    rows: list[Row] = []
    for n in SIZES:
        namespace = f"bench-scale-{n}-{os.getpid()}"
        setup(api, custom, namespace, n)
        try:
            for mode, runs in (("provider", RUNS), ("naive", NAIVE_RUNS[n])):
                results = [_one_run(api, custom, mode, namespace, n) for _ in range(runs)]
                rows += _rows(mode, n, results)
                print(f"  triggerer scale N={n} {mode}: done", file=sys.stderr, flush=True)
        finally:
            teardown(api, custom, namespace)
    _judge_flat(rows)
    return rows


def _judge_flat(rows: list[Row]) -> None:
    """The provider's request rate while waiting must not grow with N: N=1000 against N=10."""
    rates = {r.metric.split()[0]: r for r in rows if "provider" in r.metric and "requests/s" in r.metric}
    small, large = rates.get("N=10"), rates.get("N=1000")
    if small is not None and large is not None:
        low, high = float(small.value.split()[0]), float(large.value.split()[0])
        large.baseline, large.met = f"{small.value} (N=10)", verdict(high <= max(low * 1.5, low + 1.0))


def _rows(mode: str, n: int, results: list[dict[str, Any]]) -> list[Row]:
    p50 = median([percentile(r["latency"], 50) for r in results])
    p99 = median([percentile(r["latency"], 99) for r in results])
    lag_max = median([max(r["lags"]) if r["lags"] else float("nan") for r in results])
    lag_p99 = median([percentile(r["lags"], 99) for r in results])
    rps = median([r["steady_rps"] for r in results])
    cpu = median([r["cpu_s"] for r in results])
    rss = median([r["rss"] for r in results])
    added = median([r["rss_added"] for r in results])
    label = "provider RayJobTrigger" if mode == "provider" else f"naive poller ({NAIVE_INTERVAL:g} s)"
    goal_n = mode == "provider" and n == 1000
    runs = str(len(results)) + ("" if len(results) >= 5 else " (fewer: slow baseline)")
    return [
        Row("triggerer scale", f"N={n} {label}: detection latency p50 / p99",
            f"{fmt(p50, ' s')} / {fmt(p99, ' s')}", goal="p99 < 1 s" if goal_n else "",
            met=verdict(p99 < 1.0) if goal_n else "", runs=runs),
        Row("triggerer scale", f"N={n} {label}: loop lag max / p99", f"{fmt(lag_max * 1000, ' ms')} / "
            f"{fmt(lag_p99 * 1000, ' ms')}", goal="p99 < 20 ms" if goal_n else "",
            met=verdict(lag_p99 < 0.020) if goal_n else "", runs=runs),
        Row("triggerer scale", f"N={n} {label}: API requests/s while waiting", fmt(rps, " req/s"),
            goal="flat in N" if mode == "provider" else "", runs=runs),
        Row("triggerer scale", f"N={n} {label}: CPU s (wait + detect)", fmt(cpu, " s"), runs=runs),
        Row("triggerer scale", f"N={n} {label}: peak RSS added by the waiters (process peak)",
            f"{fmt(added, ' MB')} ({fmt(rss, ' MB')})", goal="< 150 MB" if goal_n else "",
            met=verdict(added < 150) if goal_n else "", runs=runs),
    ]  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        worker_main(sys.argv[2:])
    else:
        for row in run(os.environ["KUBECONFIG"]):
            print(row)
