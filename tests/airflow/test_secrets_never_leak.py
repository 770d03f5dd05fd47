"""
The credentials of a connection never show up where a run leaves text: the task log, XComs,
rendered template fields, or any file written under the Airflow home or the temp directory.

- ``ray_dashboard``: a bearer token, against the real local Ray head (deferred and in the worker).
- ``kuberay``: an inline kubeconfig carrying a token and a client key, against the fake Kubernetes
  API over TLS (client certificate verified), a RayCluster created, waited for and deleted.
- A RayCluster with Ray token auth on: its Ray token, read from the cluster's Secret to reach the
  dashboard, is never shown either; nor, with ``enableK8sTokenAuth``, the kubeconfig's bearer token
  sent as the Ray token.
"""

from __future__ import annotations

import base64
import json
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DAGS_FOLDER
from tests.support.airflow_runs import load_dag, task_states
from tests.support.fake_kube_api import FakeKubeApi, running_fake_kube_api
from tests.support.secret_scan import default_roots, file_places, leaks, run_places

pytestmark = [pytest.mark.airflow]

RAY_DAG = """
from datetime import datetime
from airflow.sdk import DAG
from airflow_provider_kuberay.operators import KubeRaySubmitJobOperator

with DAG(dag_id="secret_scan_ray", schedule=None, start_date=datetime(2025, 1, 1), params={"n": 3}):
    KubeRaySubmitJobOperator(
        task_id="job",
        entrypoint="python -c \\"print('rows', {{ params.n }})\\"",
        runtime_env={"env_vars": {"ROWS": "{{ params.n }}"}},
        ray_dashboard_conn_id="ray_secret",
        poll_interval=0.5,
    )
"""

KUBE_DAG = """
from datetime import datetime
from airflow.sdk import DAG
from airflow_provider_kuberay.operators import KubeRayCreateClusterOperator, KubeRayDeleteClusterOperator
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup

with DAG(dag_id="secret_scan_kube", schedule=None, start_date=datetime(2025, 1, 1)):
    create = KubeRayCreateClusterOperator(
        task_id="create",
        cluster=ClusterSpec(image="rayproject/ray:2.52.0", ray_version="2.52.0", head=HeadGroup()),
        cluster_name="scan-{{ params.get('suffix', 'c') }}",
        kuberay_conn_id="kube_secret",
        resync_interval=0.5,
    )
    delete = KubeRayDeleteClusterOperator(
        task_id="delete",
        cluster_name="{{ ti.xcom_pull(task_ids='create')['cluster_name'] }}",
        kuberay_conn_id="kube_secret",
        poll_interval=0.2,
    )
    create >> delete
"""

READY = {
    "state": "ready",
    "conditions": [{"type": "RayClusterProvisioned", "status": "True"}, {"type": "HeadPodReady", "status": "True"}],
    "head": {"serviceName": "scan-c-head-svc"},
}


def _scan(dag_run: Any, started: float, captured: str) -> dict[str, str]:
    places = {"task log (everything the run printed)": captured}
    places.update(run_places(dag_run))
    places.update(file_places(default_roots(), started))
    return places


def _assert_scanner_sees(secret: str, started: float) -> None:
    """The scan must be able to find what it looks for: a canary file holding the secret is found."""
    with tempfile.NamedTemporaryFile("w", prefix="canary-", delete=True) as canary:
        canary.write(f"x{secret}y")
        canary.flush()
        assert leaks(file_places(default_roots(), started), {"canary": secret})


@pytest.fixture
def ray_token(ray_head: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    token = "rtok-" + secrets.token_hex(16)
    conn = {"conn_type": "ray_dashboard", "host": ray_head.dashboard_url, "password": token}
    monkeypatch.setenv("AIRFLOW_CONN_RAY_SECRET", json.dumps(conn))
    return token


@pytest.mark.ray
@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "in-worker"])
def test_dashboard_token_never_leaks(
    airflow_db: None,
    ray_token: str,
    deferrable: bool,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", str(deferrable))
    path = DAGS_FOLDER / "secret_scan_ray.py"
    path.write_text(RAY_DAG)
    started = time.time() - 1
    dag_run = load_dag(path, "secret_scan_ray").test(logical_date=datetime.now(timezone.utc))
    captured = "".join(capfd.readouterr())
    assert task_states(dag_run) == {"job": "success"}, captured[-3000:]
    assert "rows 3" in captured  # the job's output did reach the task log
    places = _scan(dag_run, started, captured)
    assert any(p.startswith("xcom job.") for p in places)
    assert any(p.startswith("rendered fields") for p in places)
    assert leaks(places, {"bearer token": ray_token}) == []
    _assert_scanner_sees(ray_token, started)


def _kubeconfig_with_secrets(api: FakeKubeApi) -> tuple[dict[str, Any], dict[str, str]]:
    """A kubeconfig authenticating with both a token and a client certificate, and its secrets."""
    document = api.kubeconfig_dict(client_cert=True)
    user = document["users"][0]["user"]
    user["token"] = api.token
    key_pem = base64.b64decode(user["client-key-data"]).decode()
    key_body = "".join(line for line in key_pem.splitlines() if not line.startswith("-----"))
    found = {
        "kubeconfig token": api.token,
        "client-key-data (base64)": user["client-key-data"],
        "client key (PEM body)": key_body[-40:],  # the start is a fixed ASN.1 prefix
    }
    return document, found


def _ready_when_created(api: FakeKubeApi, name: str, stop: threading.Event) -> None:
    while not stop.is_set():
        obj = api.get("RayCluster", "ml", name)
        if obj is not None and not obj.get("status"):
            api.set_status("RayCluster", "ml", name, READY)
        time.sleep(0.1)


@pytest.fixture
def kube_secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeKubeApi, dict[str, str]]]:
    for api in running_fake_kube_api(tls=True):
        document, found = _kubeconfig_with_secrets(api)
        extra = {
            "kube_config": json.dumps(document),
            "namespace": "ml",
            "dashboard_access": "url",
            "dashboard_url": "https://ray.example.test/{namespace}/{cluster}",
        }
        monkeypatch.setenv("AIRFLOW_CONN_KUBE_SECRET", json.dumps({"conn_type": "kuberay", "extra": extra}))
        stop = threading.Event()
        watcher = threading.Thread(target=_ready_when_created, args=(api, "scan-c", stop), daemon=True)
        watcher.start()
        try:
            yield api, found
        finally:
            stop.set()
            watcher.join(5)


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "in-worker"])
def test_inline_kubeconfig_never_leaks_or_reaches_the_disk(
    airflow_db: None,
    kube_secret: tuple[FakeKubeApi, dict[str, str]],
    deferrable: bool,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    api, found = kube_secret
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", str(deferrable))
    path = DAGS_FOLDER / "secret_scan_kube.py"
    path.write_text(KUBE_DAG)
    started = time.time() - 1
    dag_run = load_dag(path, "secret_scan_kube").test(logical_date=datetime.now(timezone.utc))
    captured = "".join(capfd.readouterr())
    assert task_states(dag_run) == {"create": "success", "delete": "success"}, captured[-3000:]
    assert api.calls("POST", "/apis/ray.io/v1/namespaces/ml/rayclusters")  # it did talk to the API
    assert api.get("RayCluster", "ml", "scan-c") is None
    places = _scan(dag_run, started, captured)
    assert leaks(places, found) == []
    for secret in found.values():
        _assert_scanner_sees(secret, started)
    Path(DAGS_FOLDER / "secret_scan_kube.py").unlink()


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "in-worker"])
@pytest.mark.parametrize("source", ["secret", "kubernetes"])
def test_a_clusters_ray_token_never_leaks(
    airflow_db: None,
    deferrable: bool,
    source: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from tests.unit.kube.fake_kube_secrets import FakeKubeApiWithSecrets, ray_token_secret_body

    ray_token = "rayauth-" + secrets.token_hex(16)
    # With enableK8sTokenAuth the kubeconfig's own bearer token is the Ray token.
    api = FakeKubeApiWithSecrets(token=ray_token if source == "kubernetes" else None).start()
    api.secrets[("ml", "scan-c")] = ray_token_secret_body("scan-c", ray_token)
    auth = "ray_token_auth=True"
    if source == "kubernetes":
        auth = "ray_k8s_token_auth=True"
    extra = {"kube_config": json.dumps(api.kubeconfig_dict()), "namespace": "ml", "dashboard_access": "proxy"}
    monkeypatch.setenv("AIRFLOW_CONN_KUBE_SECRET", json.dumps({"conn_type": "kuberay", "extra": extra}))
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", str(deferrable))
    stop = threading.Event()
    watcher = threading.Thread(target=_ready_when_created, args=(api, "scan-c", stop), daemon=True)
    watcher.start()
    path = DAGS_FOLDER / "secret_scan_ray_token.py"
    dag = KUBE_DAG.replace("head=HeadGroup()", f"head=HeadGroup(), {auth}")
    path.write_text(dag.replace("2.52.0", "2.55.0") if source == "kubernetes" else dag)
    try:
        started = time.time() - 1
        dag_run = load_dag(path, "secret_scan_kube").test(logical_date=datetime.now(timezone.utc))
        captured = "".join(capfd.readouterr())
        assert task_states(dag_run) == {"create": "success", "delete": "success"}, captured[-3000:]
        # The token was read from the Secret, or (Kubernetes credentials) no Secret was read at all.
        assert bool(api.calls("GET", "/api/v1/namespaces/ml/secrets/scan-c")) == (source == "secret")
        assert leaks(_scan(dag_run, started, captured), {"Ray token": ray_token}) == []
        _assert_scanner_sees(ray_token, started)
    finally:
        stop.set()
        watcher.join(5)
        api.stop()
        path.unlink()
