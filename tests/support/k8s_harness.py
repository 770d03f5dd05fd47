"""
The Kubernetes harness as a session fixture, shared by every tier that needs it: the ``k8s`` tier,
and the deploy tier's RayJob test (a real Airflow deployment driving the harness's KubeRay). Defined
once here and imported into tests/conftest.py, so one session starts the harness at most once, in
whichever tier asks first, and stops it at the end of the session.

With ``KUBECONFIG`` set (a kind cluster, or a harness started by ``make k8s-up``) the tests use that
cluster as it is. Otherwise the harness is started -- etcd, kube-apiserver, kube-controller-manager,
the KubeRay CRDs and operator, a local Ray head, the test kubelet -- and stopped by PID at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class K8sCluster:
    kubeconfig: str
    # True on the harness (started here or by `make k8s-up`), so harness-only checks may run.
    harness: bool
    api: Any  # kubernetes.client.ApiClient
    ray_bin: Path
    # The harness's run directory when this session started it (harness.kueue starts Kueue there).
    run_dir: Path | None = None


def _start_harness() -> tuple[Path, str]:
    from harness import build, controlplane, netns

    why = netns.available()
    if why:
        pytest.skip(f"k8s tier NOT RUN: no KUBECONFIG, and the harness cannot make its pod network ({why})")
    if build.resolved() is None:
        if not build.go_available():
            pytest.skip("k8s tier NOT RUN: no KUBECONFIG and no Go toolchain to build the harness")
        build.ensure()
    run_dir = Path(tempfile.mkdtemp(prefix="krh-"))
    try:
        state = controlplane.up(run_dir, owner_pid=os.getpid())
    except controlplane.HarnessError as e:
        pytest.fail(f"k8s harness did not start: {e} (logs in {run_dir / 'logs'})", pytrace=False)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return run_dir, state.kubeconfig


def _is_harness(api: Any) -> bool:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    try:
        client.CoreV1Api(api).read_node("kuberay-harness-node")
    except ApiException:
        return False
    return True


def _sigterm_to_interrupt(*_: object) -> None:
    raise KeyboardInterrupt("SIGTERM")


@pytest.fixture(scope="session")
def k8s_cluster() -> Iterator[K8sCluster]:
    """The cluster in ``KUBECONFIG``, or the harness started now and stopped at the end of the session."""
    from kubernetes import config as kconfig

    from harness import controlplane

    external = os.environ.get("KUBECONFIG")
    run_dir: Path | None = None
    if external:
        kubeconfig = external
    else:
        # A SIGTERM (a time limit, CI) still runs the teardown that stops the harness, even
        # while it is starting; a SIGKILL is left to the harness's watchdog.
        signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
        run_dir, kubeconfig = _start_harness()
    try:
        api = kconfig.new_client_from_config(config_file=kubeconfig)
        yield K8sCluster(
            kubeconfig=kubeconfig,
            harness=run_dir is not None or _is_harness(api),
            api=api,
            ray_bin=controlplane.ray_bin(),
            run_dir=run_dir,
        )
    finally:
        if run_dir is not None:
            controlplane.down(run_dir, log=lambda *_: None)
            shutil.rmtree(run_dir, ignore_errors=True)
