"""
API faults on the real control plane: the provider's public operators and triggers talk to the real
kube-apiserver through a fault-injecting proxy on 127.0.0.1 (``tests/support/fault_proxy.py``) that
answers 429 with Retry-After, 500/503, resets connections (also after the server acted), delays
answers, cuts watch streams and answers ``410 Gone``. Each path must still reach the right outcome,
and a fault that persists must fail the task within its bound with an error naming the status.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_kuberay.exceptions import KubeRayApiError, KubeRayUnavailableError, RayJobFailedError
from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.hooks.retry import RetryPolicy
from airflow_provider_kuberay.operators import (
    KubeRayCreateClusterOperator,
    KubeRayDeleteClusterOperator,
    KubeRayRunJobOperator,
)
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, PodOptions, Resources, WorkerGroup
from airflow_provider_kuberay.status import job_verdict
from airflow_provider_kuberay.triggers import watch_hub
from airflow_provider_kuberay.triggers.ray_job import RayJobTrigger
from tests.support.airflow_context import FakeTaskInstance, context_for
from tests.support.airflow_exceptions import TaskDeferred
from tests.support.fault_proxy import Fault, FaultProxy

pytestmark = pytest.mark.k8s

# Stand-in Ray pods on the harness (the one local Ray head): these tests are about API faults, and
# their log-stream assertions were written against it (see harness/README.md).
_STAND_IN = PodOptions(annotations={"harness.kuberay.io/pods": "stand-in"})
CLUSTER = ClusterSpec(
    image="rayproject/ray:2.52.0",
    ray_version="2.52.0",
    head=HeadGroup(resources=Resources(cpu=1, memory="2Gi"), pod=_STAND_IN),
    worker_groups=[
        WorkerGroup(
            "cpu", replicas=1, min_replicas=0, max_replicas=1, resources=Resources(cpu=1, memory="1Gi"), pod=_STAND_IN
        )
    ],
)
ANSWER = "python -c \"import ray; ray.init(); print('answer', ray.get(ray.remote(lambda: 42).remote()))\""
# Runs long enough for several watch faults to fall inside the wait.
SLOW_ANSWER = ANSWER.replace("import ray;", "import ray, time; time.sleep(5);")
# The hooks' default policy (what a task gets): 5 attempts, windows 0.5, 1, 2, 4 s.
POLICY = RetryPolicy()


@pytest.fixture(scope="module")
def fault_proxy(k8s_cluster: Any) -> Iterator[FaultProxy]:
    proxy = FaultProxy(k8s_cluster.kubeconfig).start()
    try:
        yield proxy
    finally:
        proxy.stop()
        print(f"\nfault proxy: {sum(proxy.total.values())} faults injected in all: {dict(proxy.total)}")


@pytest.fixture
def proxy(
    fault_proxy: FaultProxy, k8s_namespace: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[FaultProxy]:
    """The proxy with no faults scripted, and ``kuberay_default`` pointing at it (TLS verified)."""
    extra = {"kube_config_path": fault_proxy.kubeconfig, "namespace": k8s_namespace, "dashboard_access": "proxy"}
    monkeypatch.setenv("AIRFLOW_CONN_KUBERAY_DEFAULT", json.dumps({"conn_type": "kuberay", "extra": extra}))
    fault_proxy.clear()
    before = Counter(fault_proxy.total)
    try:
        yield fault_proxy
    finally:
        fault_proxy.clear()
        injected = fault_proxy.total - before
        print(f"\n{request.node.name}: {sum(injected.values())} faults injected {dict(injected)}")


def _ti(task_id: str) -> FakeTaskInstance:
    return FakeTaskInstance(dag_id="faults", task_id=task_id, run_id=f"run-{uuid.uuid4().hex[:6]}")


def _direct(k8s_cluster: Any) -> KubeRayHook:
    """A hook straight to the real API server, for set-up and checks the faults must not touch."""
    return KubeRayHook(None, config_file=k8s_cluster.kubeconfig)


def _gaps(proxy: FaultProxy, method: str, path: str) -> list[float]:
    times = [seen.at for seen in proxy.requests(method, path, watch=False)]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


# -- transient faults: the right outcome ---------------------------------------------------------
def test_create_and_delete_cluster_through_throttling_errors_resets_and_slowness(
    proxy: FaultProxy, k8s_cluster: Any, k8s_namespace: str
) -> None:
    name = f"faulty-{uuid.uuid4().hex[:5]}"
    one = rf"/rayclusters/{name}$"
    proxy.add(
        Fault("status", method="POST", path=r"/rayclusters$", status=429, retry_after="1"),
        # The server creates the cluster, the answer is lost: the retry must adopt it, not fail on 409.
        Fault("reset", method="POST", path=r"/rayclusters$", after_forward=True),
        Fault("status", method="GET", path=one, status=500),
        Fault("status", method="GET", path=one, status=503),
        Fault("delay", method="GET", path=r"/rayclusters$", watch=False, delay=1.5),
        Fault("reset", method="GET", path=r"/pods$"),
    )
    start = time.monotonic()
    ti = _ti("create")
    created = KubeRayCreateClusterOperator(
        task_id="create", cluster=CLUSTER, cluster_name=name, deferrable=False, resync_interval=2
    ).execute(context_for(ti))
    assert created["cluster_name"] == name
    assert time.monotonic() - start < 60
    assert [s.fault for s in proxy.requests("POST", r"/rayclusters$")] == ["status", "reset", None]
    # The 429 asked for a second: the retry came no sooner.
    assert _gaps(proxy, "POST", r"/rayclusters$")[0] >= 1.0
    assert [s.fault for s in proxy.requests("GET", one, watch=False)][:3] == ["status", "status", None]
    labels = _direct(k8s_cluster).get_object("RayCluster", name, k8s_namespace)["metadata"]["labels"]
    assert labels["airflow.apache.org/task-id"] == "create"  # created once, by this task, and adopted
    injected_on_create = proxy.injected()
    assert injected_on_create["status"] == 3
    assert injected_on_create["reset"] >= 1

    proxy.clear()
    proxy.add(
        Fault("status", method="DELETE", path=one, status=503, retry_after="1"),
        Fault("reset", method="DELETE", path=one),
        Fault("status", method="GET", path=one, status=429, retry_after="1"),
        Fault("status", method="GET", path=r"/pods$", status=500),
        Fault("delay", method="GET", path=r"/pods$", delay=1.0),
    )
    assert KubeRayDeleteClusterOperator(
        task_id="delete", cluster_name=name, poll_interval=0.5, timeout_seconds=120
    ).execute(context_for(_ti("delete")))
    assert _direct(k8s_cluster).find_object("RayCluster", name, k8s_namespace) is None
    assert _direct(k8s_cluster).list_pods(k8s_namespace, label_selector=f"ray.io/cluster={name}") == []
    assert [s.fault for s in proxy.requests("DELETE", one)] == ["status", "reset", None]
    assert proxy.injected() == Counter({"status": 3, "reset": 1, "delay": 1})


def test_run_job_succeeds_through_watch_cuts_and_410_gone(
    proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # No periodic re-list and no re-read of its own within the test: the job's end must come through
    # the faulty watch itself, resumed after every cut and re-listed after every 410.
    monkeypatch.setattr(watch_hub, "RESYNC_SECONDS", 3600.0)
    proxy.add(
        Fault("status", method="POST", path=r"/rayjobs$", status=503, retry_after="1"),
        # Watches, in this order: 410 in the stream after one event, a cut after one event, HTTP 410
        # to the watch request, a cut after a second, then a cut after every single event.
        Fault("gone", method="GET", path=r"/rayjobs$", watch=True, after_events=1),
        Fault("cut", method="GET", path=r"/rayjobs$", watch=True, after_events=1),
        Fault("status", method="GET", path=r"/rayjobs$", watch=True, status=410),
        Fault("cut", method="GET", path=r"/rayjobs$", watch=True, after_seconds=1.0),
        Fault("cut", method="GET", path=r"/rayjobs$", watch=True, after_events=1, times=None),
        Fault("delay", method="GET", path=r"/pods$", delay=1.0),
        Fault("status", method="GET", path=r"/rayjobs$", watch=False, status=429, retry_after="1"),
        # The job's followed log (through the API server's service proxy) is cut after its first
        # line: the stream resumes where it was.
        Fault("cut", method="GET", path=r"/logs/stream$", after_events=1),
    )
    start = time.monotonic()
    summary = KubeRayRunJobOperator(
        task_id="job", entrypoint=SLOW_ANSWER, cluster=CLUSTER, deferrable=False, resync_interval=600
    ).execute(context_for(_ti("job")))
    elapsed = time.monotonic() - start
    assert summary["job_status"] == "SUCCEEDED"
    assert summary["job_deployment_status"] == "Complete"
    assert capsys.readouterr().out.count("[ray] answer 42") == 1  # neither lost nor repeated by the cut
    assert elapsed < 300  # the trigger's own re-read (600 s) never ran: the watch carried the end
    watch_faults = [seen.fault for seen in proxy.requests("GET", r"/rayjobs$", watch=True)]
    # Faults are taken in order; the job's end may come before the later ones are reached.
    assert watch_faults[:2] == ["gone", "cut"], watch_faults
    assert watch_faults[2:3] in ([], ["status"]), watch_faults
    assert [seen.fault for seen in proxy.requests("GET", r"/logs/stream$")][:1] == ["cut"]
    # 503 on create, 429 on the first list, and the HTTP 410 on a watch when reached.
    assert proxy.injected()["status"] >= 2 + watch_faults[2:3].count("status")
    print(f"\nwatch requests: {watch_faults}")


def test_cluster_trigger_sees_ready_through_the_resync_when_every_watch_stalls(
    proxy: FaultProxy, k8s_cluster: Any, k8s_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Watches that answer and then say nothing (a half-open connection) are only caught by the
    # shared watch's periodic re-list: shortened here from 15 s, the trigger's own re-read is off.
    monkeypatch.setattr(watch_hub, "RESYNC_SECONDS", 2.0)
    proxy.add(Fault("stall", method="GET", path=r"/rayclusters$", watch=True, times=None))
    name = f"silent-{uuid.uuid4().hex[:5]}"
    start = time.monotonic()
    try:
        created = KubeRayCreateClusterOperator(
            task_id="silent", cluster=CLUSTER, cluster_name=name, deferrable=False, resync_interval=600
        ).execute(context_for(_ti("silent")))
        elapsed = time.monotonic() - start
    finally:
        _direct(k8s_cluster).delete_object("RayCluster", name, k8s_namespace)
    assert created["cluster_name"] == name
    assert elapsed < 60
    assert proxy.injected()["stall"] >= 1
    assert len(proxy.requests("GET", r"/rayclusters$", watch=False)) >= 2  # the list, then re-lists


def _run_trigger_recording(trigger: Any, conn_id: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Run a deferred task's trigger as the triggerer does, recording what its shared watch delivered."""

    async def main() -> tuple[dict[str, Any], list[tuple[str, str]]]:
        seen: list[tuple[str, str]] = []
        async with watch_hub.WatchHub.subscribe(conn_id, trigger.namespace, trigger.kind, trigger.name) as updates:

            async def record() -> None:
                while True:
                    update = await updates.get()
                    if isinstance(update, BaseException):
                        seen.append(("ERROR", repr(update)))
                        continue
                    obj = update[1]
                    seen.append((obj["metadata"]["resourceVersion"], job_verdict(obj).phase.value))

            recorder = asyncio.create_task(record())
            events = trigger.run()
            try:
                event = await events.__anext__()
            finally:
                await events.aclose()
                await asyncio.sleep(0.2)
                recorder.cancel()
        return dict(event.payload), seen

    return asyncio.run(main())


def _clean_watch(k8s_cluster: Any, namespace: str, name: str, stop: threading.Event, into: list[str]) -> None:
    """Every resourceVersion of one RayJob, straight from the real API server (the reference)."""
    from kubernetes import client, watch

    api = client.CustomObjectsApi(k8s_cluster.api)
    version: str | None = None
    while not stop.is_set():
        w = watch.Watch()
        kwargs: dict[str, Any] = {"field_selector": f"metadata.name={name}", "timeout_seconds": 2}
        if version:
            kwargs["resource_version"] = version
        for event in w.stream(api.list_namespaced_custom_object, "ray.io", "v1", namespace, "rayjobs", **kwargs):
            version = event["object"]["metadata"]["resourceVersion"]
            if version not in into:
                into.append(version)


def test_deferred_rayjob_trigger_misses_no_transition_when_every_watch_is_cut(
    proxy: FaultProxy, k8s_cluster: Any, k8s_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch_hub, "RESYNC_SECONDS", 3600.0)
    ti = _ti("deferred")
    operator = KubeRayRunJobOperator(
        task_id="deferred", entrypoint=ANSWER, cluster=CLUSTER, deferrable=True, resync_interval=600
    )
    reference: list[str] = []
    stop = threading.Event()
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context_for(ti))
    name = ti.xcoms["name"]
    clean = threading.Thread(target=_clean_watch, args=(k8s_cluster, k8s_namespace, name, stop, reference))
    clean.start()
    # Every watch stream delivers one event and is then cut; the list before it is slow.
    proxy.add(
        Fault("delay", method="GET", path=r"/rayjobs$", watch=False, delay=1.0),
        Fault("cut", method="GET", path=r"/rayjobs$", watch=True, after_events=1, times=None),
    )
    try:
        # As the triggerer does: rebuild the trigger from its serialized form.
        path, kwargs = deferred.value.trigger.serialize()
        module, cls = path.rsplit(".", 1)
        trigger = getattr(importlib.import_module(module), cls)(**kwargs)
        event, seen = _run_trigger_recording(trigger, "kuberay_default")
        summary = operator.execute_complete(context_for(ti), event)
    finally:
        time.sleep(1)
        stop.set()
        clean.join(10)
    assert summary["job_status"] == "SUCCEEDED"
    assert not [s for s in seen if s[0] == "ERROR"], seen  # the watch never gave up
    versions = [v for v, _ in seen]
    terminal = next(v for v, phase in seen if phase == "SUCCEEDED")
    first = int(versions[0])
    expected = [v for v in reference if first < int(v) <= int(terminal)]
    assert expected, (reference, seen)
    assert [v for v in versions if first < int(v) <= int(terminal)] == expected
    assert proxy.injected()["cut"] >= len(expected)
    print(f"\nwatch delivered {len(expected)} of {len(expected)} transitions through {proxy.injected()['cut']} cuts")


def test_a_trigger_whose_watch_gave_up_still_sees_the_end_once_the_watch_is_back(
    proxy: FaultProxy, k8s_namespace: str
) -> None:
    """
    An API outage outlasts the shared watch's retries; the watch comes back (here: another trigger
    subscribes). The trigger that was waiting all along must still see its job end.
    """
    ti = _ti("outage")
    operator = KubeRayRunJobOperator(
        task_id="outage", entrypoint="python -c 'import time; time.sleep(15)'", cluster=CLUSTER, deferrable=True
    )
    with pytest.raises(TaskDeferred):
        operator.execute(context_for(ti))
    name = ti.xcoms["name"]
    trigger = RayJobTrigger(
        name, k8s_namespace, "kuberay_default", deadline=time.time() + 75, resync_interval=3, stream_logs=False
    )
    # Every list of RayJobs fails until the shared watch gives up (reads of the job itself pass).
    proxy.add(Fault("status", method="GET", path=r"/rayjobs$", watch=False, status=503, times=POLICY.attempts))

    async def main() -> dict[str, Any]:
        waiting = asyncio.create_task(_first_event(trigger))
        deadline = time.monotonic() + 40
        while proxy.injected()["status"] < POLICY.attempts:
            assert time.monotonic() < deadline, "the shared watch never gave up"
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # it has given up now: every waiting trigger was told
        assert not waiting.done()
        async with watch_hub.WatchHub.subscribe("kuberay_default", k8s_namespace, "RayJob", "another-job"):
            return await asyncio.wait_for(waiting, 120)

    event = asyncio.run(main())
    assert event["outcome"] == "succeeded", event
    assert event["job_status"] == "SUCCEEDED"


async def _first_event(trigger: Any) -> dict[str, Any]:
    events = trigger.run()
    try:
        return dict((await events.__anext__()).payload)
    finally:
        await events.aclose()


# -- persistent faults: bounded, jittered, a clear error ------------------------------------------
def test_persistent_503_fails_the_delete_after_bounded_jittered_attempts(proxy: FaultProxy) -> None:
    one = r"/rayclusters/never-there$"
    runs: list[list[float]] = []
    for _ in range(2):
        proxy.clear()
        proxy.add(Fault("status", method="DELETE", path=one, status=503, times=None))
        start = time.monotonic()
        with pytest.raises(KubeRayUnavailableError) as info:
            KubeRayDeleteClusterOperator(task_id="delete", cluster_name="never-there").execute(context_for())
        elapsed = time.monotonic() - start
        message = str(info.value)
        assert "refused to delete RayCluster" in message
        assert "HTTP 503 ServiceUnavailable: fault proxy: injected 503" in message
        assert f"gave up after {POLICY.attempts} attempts" in message
        assert len(proxy.requests("DELETE", one)) == POLICY.attempts
        gaps = _gaps(proxy, "DELETE", one)
        windows = [min(POLICY.max_delay, POLICY.base_delay * 2**i) for i in range(POLICY.attempts - 1)]
        assert all(gap <= window + 0.4 for gap, window in zip(gaps, windows, strict=True)), (gaps, windows)
        assert elapsed < sum(windows) + 3
        runs.append(gaps)
    # Jittered: two give-ups never wait the same.
    assert any(abs(a - b) > 0.02 for a, b in zip(*runs, strict=True)), runs


def test_persistent_429_honours_retry_after_then_fails_the_create(proxy: FaultProxy, k8s_cluster: Any) -> None:
    name = f"throttled-{uuid.uuid4().hex[:5]}"
    proxy.add(Fault("status", method="POST", path=r"/rayclusters$", status=429, retry_after="1", times=None))
    with pytest.raises(KubeRayUnavailableError) as info:
        KubeRayCreateClusterOperator(task_id="create", cluster=CLUSTER, cluster_name=name, deferrable=False).execute(
            context_for(_ti("create"))
        )
    assert "HTTP 429 TooManyRequests: fault proxy: injected 429" in str(info.value)
    assert f"gave up after {POLICY.attempts} attempts" in str(info.value)
    gaps = _gaps(proxy, "POST", r"/rayclusters$")
    assert len(gaps) == POLICY.attempts - 1
    assert all(1.0 <= gap <= 1.0 + POLICY.base_delay + 0.4 for gap in gaps), gaps
    assert _direct(k8s_cluster).find_object("RayCluster", name) is None


def test_persistent_resets_fail_with_the_attempt_count(proxy: FaultProxy) -> None:
    proxy.add(Fault("reset", method="DELETE", path=r"/rayclusters/", times=None))
    with pytest.raises(KubeRayUnavailableError) as info:
        KubeRayDeleteClusterOperator(task_id="delete", cluster_name="unreachable").execute(context_for())
    assert "unreachable to delete RayCluster" in str(info.value)
    assert f"after {POLICY.attempts} attempts" in str(info.value)
    # One request per attempt: no hidden, unjittered retries underneath.
    assert len(proxy.requests("DELETE", r"/rayclusters/")) == POLICY.attempts


def test_trigger_gives_up_on_a_persistent_503_with_a_clear_task_error(
    proxy: FaultProxy, k8s_cluster: Any, k8s_namespace: str
) -> None:
    ti = _ti("stuck")
    operator = KubeRayRunJobOperator(
        task_id="stuck", entrypoint="python -c 'print(1)'", cluster_name="no-such-cluster", deferrable=False
    )
    # The create passes; every read of RayJobs after it fails (lists, watches, gets).
    proxy.add(Fault("status", method="GET", path=r"/namespaces/[^/]+/rayjobs", status=503, times=None))
    start = time.monotonic()
    try:
        with pytest.raises(RayJobFailedError) as info:
            operator.execute(context_for(ti))
        elapsed = time.monotonic() - start
    finally:
        proxy.clear()
        _direct(k8s_cluster).delete_object("RayJob", ti.xcoms["name"], k8s_namespace)
    message = str(info.value)
    assert "could not be followed" in message
    assert "HTTP 503 ServiceUnavailable" in message
    assert f"gave up after {POLICY.attempts} attempts" in message
    assert elapsed < 60


def test_cluster_trigger_gives_up_on_a_persistent_503_and_the_task_says_why(
    proxy: FaultProxy, k8s_cluster: Any, k8s_namespace: str
) -> None:
    name = f"unseen-{uuid.uuid4().hex[:5]}"
    # The create passes; every read of RayClusters after it fails, the clean-up's included.
    proxy.add(
        Fault("status", method="GET", path=r"/namespaces/[^/]+/rayclusters", status=503, retry_after="0", times=None)
    )
    start = time.monotonic()
    try:
        with pytest.raises(KubeRayApiError) as info:
            KubeRayCreateClusterOperator(
                task_id="unseen", cluster=CLUSTER, cluster_name=name, deferrable=False, resync_interval=2
            ).execute(context_for(_ti("unseen")))
        elapsed = time.monotonic() - start
    finally:
        proxy.clear()
        _direct(k8s_cluster).delete_object("RayCluster", name, k8s_namespace)
    message = str(info.value)
    assert message.startswith(f"RayCluster {k8s_namespace}/{name} could not be followed: "), message
    assert f"refused to get RayCluster {k8s_namespace}/{name}: HTTP 503 ServiceUnavailable" in message
    assert f"gave up after {POLICY.attempts} attempts" in message
    assert elapsed < 60
