"""
Helpers for the restart tests of the `k8s` tier: stop a trigger the way the triggerer does when it
restarts and rebuild it from its stored form; run a task in a worker process of its own and SIGKILL it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from k8s_support import GROUP, VERSION, serve_config, task_instance

# The trigger's deadlines and waits are all bounded by this in the tests.
EVENT_TIMEOUT = 120.0
PLURALS = {"RayJob": "rayjobs", "RayCluster": "rayclusters", "RayService": "rayservices"}
REPO = Path(__file__).resolve().parents[2]


async def _first_payload(trigger: Any) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError(f"{type(trigger).__name__} ended without an event")


def cancel_mid_wait(trigger: Any, after: float) -> None:
    """
    Run the trigger in a fresh event loop and, after ``after`` seconds, stop it as the triggerer
    does when it restarts or the trigger moves: cancel the task running ``run()``, then ``cleanup()``.
    Fails if the trigger fired before (the test's premise would not hold).
    """

    async def scenario() -> None:
        task = asyncio.create_task(_first_payload(trigger))
        await asyncio.sleep(after)
        assert not task.done(), f"the trigger fired before it could be cancelled: {task.result()}"
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await trigger.cleanup()
        leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
        assert not leftovers, f"the cancelled trigger left tasks running: {leftovers}"

    asyncio.run(scenario())


def rebuilt(trigger: Any) -> Any:
    """
    A new trigger from the stored form, as Airflow stores and loads it: ``serialize()`` into a
    Trigger row (kwargs encoded, encrypted when a Fernet key is set), read back, class imported by path.
    """
    from airflow.models.trigger import Trigger

    row = Trigger.from_object(trigger)
    module, _, name = row.classpath.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    return cls(**row.kwargs)


def first_event(trigger: Any, timeout: float = EVENT_TIMEOUT) -> dict[str, Any]:
    """The trigger's first event, run in a new event loop (a restarted triggerer's)."""
    return asyncio.run(asyncio.wait_for(_first_payload(trigger), timeout))


def crash_operator(kind: str, task_id: str) -> Any:
    """The task a worker runs (and that is killed): the same definition for the first try and the retry."""
    from airflow_provider_kuberay.operators import (
        KubeRayCreateClusterOperator,
        KubeRayDeployServiceOperator,
        KubeRayRunJobOperator,
    )

    if kind == "RayJob":
        return KubeRayRunJobOperator(
            task_id=task_id,
            entrypoint="python -c \"import time; time.sleep(8); print('finished after the crash')\"",
            cluster_name="shared",
            deferrable=False,
            resync_interval=1,
        )
    if kind == "RayCluster":
        from k8s_support import provider_cluster

        return KubeRayCreateClusterOperator(
            task_id=task_id, cluster=provider_cluster(), deferrable=False, resync_interval=1
        )
    if kind == "RayService":
        from k8s_support import raycluster_spec

        body = {"spec": {"serveConfigV2": json.dumps(serve_config("crash")), "rayClusterConfig": raycluster_spec(0)}}
        return KubeRayDeployServiceOperator(task_id=task_id, service=body, deferrable=False, resync_interval=1)
    raise ValueError(kind)


def task_key(task_id: str, run_id: str) -> str:
    """The task-instance label value of the tier's task (see ``TaskIdentity``)."""
    from airflow_provider_kuberay.tasks.identity import TaskIdentity

    return TaskIdentity("k8s_tier", task_id, run_id, -1, 1).key


def owned(custom: Any, kind: str, namespace: str, task_id: str, run_id: str) -> list[dict[str, Any]]:
    """The objects of that kind that carry this task instance's label."""
    from airflow_provider_kuberay.tasks.identity import TASK_LABEL

    selector = f"{TASK_LABEL}={task_key(task_id, run_id)}"
    found = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], label_selector=selector)
    return list(found["items"])


def kill_worker_after_create(
    custom: Any, kind: str, namespace: str, task_id: str, run_id: str, log: Path, timeout: float = 120
) -> dict[str, Any]:
    """
    Run the first try of the task in a worker process of its own (``worker_child.py``); SIGKILL that
    process, by its PID, the moment its object exists in the API server. Returns the object.
    """
    argv = [sys.executable, str(Path(__file__).with_name("worker_child.py")), kind, task_id, run_id]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(Path(__file__).parent)])}
    with log.open("wb") as out:
        worker = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while not (objects := owned(custom, kind, namespace, task_id, run_id)):
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the worker created no {kind} (exit {worker.returncode}): {_tail(log)}")
                time.sleep(0.05)
            os.kill(worker.pid, signal.SIGKILL)
        finally:
            if worker.poll() is None:  # the test failed before the kill: never leave the worker behind
                os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL, f"the worker ended by itself ({worker.returncode}): {_tail(log)}"
    return objects[0]


def retry(kind: str, task_id: str, run_id: str) -> Any:
    """The second try of the task, in this process, as the retry after the crash."""
    from tests.support.airflow_context import context_for

    return crash_operator(kind, task_id).execute(context_for(task_instance(task_id, try_number=2, run_id=run_id)))


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def unchanged(read: Callable[[], dict[str, Any]], before: dict[str, Any]) -> None:
    """Assert the object still exists as it was: same uid and spec, labels kept, not being deleted."""
    now = read()
    assert now["metadata"]["uid"] == before["metadata"]["uid"], "the object was deleted and created again"
    assert "deletionTimestamp" not in now["metadata"], "the object is being deleted"
    changed = {k for k in {*now["spec"], *before["spec"]} if now["spec"].get(k) != before["spec"].get(k)}
    diff = [(k, before["spec"].get(k), now["spec"].get(k)) for k in changed]
    assert not changed, f"the object's spec changed: {diff}"
    assert now["metadata"].get("labels") == before["metadata"].get("labels")
