"""
``make demo-k8s``: the Kubernetes example DAG end to end on the test control plane.

Starts the harness (kube-apiserver, etcd, kube-controller-manager and the real KubeRay operator on
loopback, pods run by the test kubelet against a local Ray head), runs
``airflow dags test example_kuberay_run_job`` with a ``kuberay`` connection to it, prints the task
states, stops everything, and exits non-zero if anything failed. With ``KUBECONFIG`` set, that
cluster is used instead and nothing is started.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from devtools.demo import run_example_dag

DAG_ID = "example_kuberay_run_job"


def main() -> int:
    started = time.monotonic()
    kubeconfig = os.environ.get("KUBECONFIG")
    run_dir: Path | None = None
    if not kubeconfig:
        from harness import controlplane

        run_dir = Path(tempfile.mkdtemp(prefix="krh-demo-"))
        print("== starting the Kubernetes test control plane with the KubeRay operator", flush=True)
        kubeconfig = controlplane.up(run_dir, owner_pid=os.getpid()).kubeconfig
    try:
        connection = {
            "conn_type": "kuberay",
            "extra": {"kube_config_path": kubeconfig, "namespace": "default", "dashboard_access": "proxy"},
        }
        ok = run_example_dag(DAG_ID, {"kuberay_default": connection})
    finally:
        if run_dir is not None:
            from harness import controlplane

            controlplane.down(run_dir)
            shutil.rmtree(run_dir, ignore_errors=True)
    print(f"== demo-k8s took {time.monotonic() - started:.0f}s", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
