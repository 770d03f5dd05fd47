"""
Bad input to every operator, sensor and ``@task.kuberay``, and bad ``kuberay`` / ``ray_dashboard``
connections: each is rejected at execute time (after template rendering) with a concise error that
names the field, before a single request reaches the (fake) Kubernetes API or Ray dashboard.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.exceptions import AirflowNotFoundException
from airflow.sdk import BaseOperator

from airflow_provider_kuberay.decorators.kuberay import kuberay_task
from airflow_provider_kuberay.exceptions import KubeRayConnectionError
from airflow_provider_kuberay.operators import (
    KubeRayCreateClusterOperator,
    KubeRayDeleteClusterOperator,
    KubeRayDeleteServiceOperator,
    KubeRayDeployServiceOperator,
    KubeRayRunJobOperator,
    KubeRaySubmitJobOperator,
)
from airflow_provider_kuberay.sensors import KubeRayClusterSensor, KubeRayJobSensor, KubeRayServiceSensor
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, ServiceSpec, WorkerGroup
from tests.support.airflow_context import context_for
from tests.support.fake_dashboard import FakeDashboard, running_fake_dashboard
from tests.support.fake_kube_api import FakeKubeApi, running_fake_kube_api

IMAGE = "rayproject/ray:2.52.0"
CLUSTER = ClusterSpec(image=IMAGE, ray_version="2.52.0", head=HeadGroup())
SERVE = {"applications": [{"name": "app", "import_path": "app:deployment"}]}
SERVICE = ServiceSpec(cluster=CLUSTER, serve_config=SERVE)
# What templates render from: strings where a number or a mapping is needed, empty values, "None".
PARAMS = {"empty": "", "word": "abc", "res": {"TPU": 1}, "none": None, "names": ["a", "b"]}
RAW_CLUSTER_YAML = """
apiVersion: ray.io/v1
kind: RayCluster
metadata: {name: raw}
spec:
  headGroupSpec:
    rayStartParams: {}
    template:
      spec:
        containers: [{name: ray-head, image: rayproject/ray:2.52.0}]
"""


@dataclass(frozen=True)
class Case:
    """
    One bad input.

    :param build: makes the task (templated fields still unrendered).
    :param error: the exception type expected.
    :param names: text the message must contain: the field, and the connection when it is one.
    :param conns: connection id -> "kube"/"dashboard" based variants, as a function of the fakes.
    """

    build: Callable[[], BaseOperator]
    error: type[BaseException]
    names: tuple[str, ...]
    conns: Callable[[FakeKubeApi, FakeDashboard], dict[str, dict[str, Any]]] = field(default=lambda k, d: {})


def submit(**kwargs: Any) -> Callable[[], BaseOperator]:
    defaults: dict[str, Any] = {
        "task_id": "t",
        "entrypoint": "python a.py",
        "deferrable": False,
        "wait_for_completion": False,
    }
    return lambda: KubeRaySubmitJobOperator(**{**defaults, **kwargs})


def run_job(**kwargs: Any) -> Callable[[], BaseOperator]:
    defaults: dict[str, Any] = {
        "task_id": "t",
        "entrypoint": "python a.py",
        "cluster": CLUSTER,
        "deferrable": False,
        "wait_for_completion": False,
    }
    return lambda: KubeRayRunJobOperator(**{**defaults, **kwargs})


def create_cluster(**kwargs: Any) -> Callable[[], BaseOperator]:
    defaults: dict[str, Any] = {"task_id": "t", "cluster": CLUSTER, "deferrable": False, "wait_until_ready": False}
    return lambda: KubeRayCreateClusterOperator(**{**defaults, **kwargs})


def delete_cluster(**kwargs: Any) -> Callable[[], BaseOperator]:
    defaults: dict[str, Any] = {"task_id": "t", "cluster_name": "c1", "wait_for_deletion": False}
    return lambda: KubeRayDeleteClusterOperator(**{**defaults, **kwargs})


def deploy_service(**kwargs: Any) -> Callable[[], BaseOperator]:
    defaults: dict[str, Any] = {"task_id": "t", "service": SERVICE, "deferrable": False, "wait_until_serving": False}
    return lambda: KubeRayDeployServiceOperator(**{**defaults, **kwargs})


def delete_service(**kwargs: Any) -> Callable[[], BaseOperator]:
    defaults: dict[str, Any] = {"task_id": "t", "service_name": "s1", "wait_for_deletion": False}
    return lambda: KubeRayDeleteServiceOperator(**{**defaults, **kwargs})


def sensor(cls: type[BaseOperator], **kwargs: Any) -> Callable[[], BaseOperator]:
    defaults: dict[str, Any] = {"task_id": "t", "deferrable": False, "poke_interval": 0.01, "timeout": 5}
    return lambda: cls(**{**defaults, **kwargs})


def decorated(**kwargs: Any) -> Callable[[], BaseOperator]:
    def build() -> BaseOperator:
        from airflow.sdk import DAG

        def square(x: Any) -> Any:
            return x

        options = {k: v for k, v in kwargs.items() if k != "call_kwargs"}
        options = {"cluster_name": "shared", "deferrable": False, "wait_for_completion": False, **options}
        with DAG(dag_id="bad_inputs", schedule=None):
            return kuberay_task(square, **options)(**kwargs.get("call_kwargs", {"x": 2})).operator

    return build


# -- connection variants --------------------------------------------------------------------------
def kube_conn(kube: FakeKubeApi, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"kube_config": json.dumps(kube.kubeconfig_dict()), "namespace": "ml", **extra}
    return {"conn_type": "kuberay", "extra": {k: v for k, v in fields.items() if v is not None}}


def with_kubeconfig(change: Callable[[dict[str, Any]], Any]) -> Callable[[FakeKubeApi, FakeDashboard], Any]:
    def conns(kube: FakeKubeApi, dash: FakeDashboard) -> dict[str, dict[str, Any]]:
        document = copy.deepcopy(kube.kubeconfig_dict())
        changed = change(document)
        text = changed if isinstance(changed, str) else json.dumps(document)
        return {"kuberay_default": kube_conn(kube, kube_config=text)}

    return conns


def kube_extra(**extra: Any) -> Callable[[FakeKubeApi, FakeDashboard], dict[str, dict[str, Any]]]:
    return lambda kube, dash: {"kuberay_default": kube_conn(kube, **extra)}


def dash_conn(**fields: Any) -> Callable[[FakeKubeApi, FakeDashboard], dict[str, dict[str, Any]]]:
    def conns(kube: FakeKubeApi, dash: FakeDashboard) -> dict[str, dict[str, Any]]:
        conn = {"conn_type": "ray_dashboard", "host": dash.url, **fields}
        return {"ray_dashboard_default": {k: v for k, v in conn.items() if v is not None}}

    return conns


def _drop_current_context(doc: dict[str, Any]) -> None:
    del doc["current-context"]


def _no_users(doc: dict[str, Any]) -> None:
    doc["users"] = []


def _no_server(doc: dict[str, Any]) -> None:
    del doc["clusters"][0]["cluster"]["server"]


def _cluster_template_field(value: str) -> Callable[[], BaseOperator]:
    return lambda: KubeRayCreateClusterOperator(task_id="t", cluster=value, deferrable=False, wait_until_ready=False)


CASES: dict[str, Case] = {
    # ---- kuberay connection ----------------------------------------------------------------
    "kubeconfig-not-yaml": Case(
        delete_cluster(),
        KubeRayConnectionError,
        ("'kuberay_default'", "kube_config", "not valid JSON or YAML"),
        with_kubeconfig(lambda doc: "apiVersion: v1\nclusters: [unclosed"),
    ),
    "kubeconfig-a-list": Case(
        delete_cluster(),
        KubeRayConnectionError,
        ("'kuberay_default'", "kube_config", "mapping"),
        with_kubeconfig(lambda doc: "- a\n- b\n"),
    ),
    "kubeconfig-unknown-context": Case(
        run_job(),
        KubeRayConnectionError,
        ("kuberay_conn_id 'kuberay_default'", "context 'staging' not found in kubeconfig"),
        kube_extra(cluster_context="staging"),
    ),
    "kubeconfig-no-current-context": Case(
        create_cluster(),
        KubeRayConnectionError,
        ("'kuberay_default'", "current-context"),
        with_kubeconfig(_drop_current_context),
    ),
    "kubeconfig-context-without-user": Case(
        deploy_service(),
        KubeRayConnectionError,
        ("'kuberay_default'", "user 'fake'"),
        with_kubeconfig(_no_users),
    ),
    "kubeconfig-cluster-without-server": Case(
        delete_service(),
        KubeRayConnectionError,
        ("'kuberay_default'", "server"),
        with_kubeconfig(_no_server),
    ),
    "kubeconfig-path-missing": Case(
        sensor(KubeRayClusterSensor, cluster_name="c1"),
        KubeRayConnectionError,
        ("'kuberay_default'", "kube_config_path", "/nonexistent/kubeconfig"),
        kube_extra(kube_config=None, kube_config_path="/nonexistent/kubeconfig"),
    ),
    "kubeconfig-inline-and-path": Case(
        delete_cluster(),
        KubeRayConnectionError,
        ("'kuberay_default'", "kube_config and kube_config_path"),
        kube_extra(kube_config_path="/etc/hosts"),
    ),
    "kube-in-cluster-not-a-flag": Case(
        delete_cluster(),
        KubeRayConnectionError,
        ("'kuberay_default'", "in_cluster", "'maybe'"),
        kube_extra(in_cluster="maybe"),
    ),
    "kube-verify-not-a-flag": Case(
        run_job(),
        KubeRayConnectionError,
        ("'kuberay_default'", "disable_verify_ssl", "'sometimes'"),
        kube_extra(disable_verify_ssl="sometimes"),
    ),
    "kube-bad-access-mode": Case(
        create_cluster(),
        KubeRayConnectionError,
        ("'kuberay_default'", "dashboard_access", "'tunnel'"),
        kube_extra(dashboard_access="tunnel"),
    ),
    "kube-url-mode-without-url": Case(
        submit(cluster_name="c1", ray_dashboard_conn_id=None),
        KubeRayConnectionError,
        ("'kuberay_default'", "dashboard_url", "empty"),
        kube_extra(dashboard_access="url"),
    ),
    "kube-url-template-bad-placeholder": Case(
        submit(cluster_name="c1", ray_dashboard_conn_id=None),
        KubeRayConnectionError,
        ("'kuberay_default'", "dashboard_url", "{cluster}"),
        kube_extra(dashboard_access="url", dashboard_url="https://ray.test/{clusterr}"),
    ),
    "kube-url-template-not-http": Case(
        create_cluster(),
        KubeRayConnectionError,
        ("'kuberay_default'", "dashboard_url", "ftp://"),
        kube_extra(dashboard_access="url", dashboard_url="ftp://ray.test/{cluster}"),
    ),
    "kube-connection-namespace-invalid": Case(
        run_job(),
        KubeRayConnectionError,
        ("'kuberay_default'", "namespace", "'Team_ML'"),
        kube_extra(namespace="Team_ML"),
    ),
    "kube-connection-unknown-id": Case(
        delete_cluster(kuberay_conn_id="no_such_conn"),
        AirflowNotFoundException,
        ("no_such_conn",),
    ),
    # ---- ray_dashboard connection ----------------------------------------------------------
    "dash-no-host": Case(submit(), KubeRayConnectionError, ("'ray_dashboard_default'", "host"), dash_conn(host=None)),
    "dash-host-not-http": Case(
        submit(),
        KubeRayConnectionError,
        ("'ray_dashboard_default'", "host", "ftp://"),
        dash_conn(host="ftp://127.0.0.1:8265"),
    ),
    "dash-headers-not-json": Case(
        submit(),
        KubeRayConnectionError,
        ("'ray_dashboard_default'", "headers"),
        dash_conn(extra=json.dumps({"headers": "{not json"})),
    ),
    "dash-headers-a-list": Case(
        sensor(KubeRayJobSensor, submission_id="s1"),
        KubeRayConnectionError,
        ("'ray_dashboard_default'", "headers"),
        dash_conn(extra=json.dumps({"headers": ["X-A: 1"]})),
    ),
    "dash-timeout-not-a-number": Case(
        submit(),
        KubeRayConnectionError,
        ("'ray_dashboard_default'", "timeout", "'soon'"),
        dash_conn(extra=json.dumps({"timeout": "soon"})),
    ),
    "dash-timeout-negative": Case(
        submit(),
        KubeRayConnectionError,
        ("'ray_dashboard_default'", "timeout", "-5"),
        dash_conn(extra=json.dumps({"timeout": -5})),
    ),
    "dash-verify-not-a-flag": Case(
        submit(),
        KubeRayConnectionError,
        ("'ray_dashboard_default'", "verify_ssl", "'perhaps'"),
        dash_conn(extra=json.dumps({"verify_ssl": "perhaps"})),
    ),
    "dash-ca-bundle-missing": Case(
        submit(),
        KubeRayConnectionError,
        ("'ray_dashboard_default'", "ca_bundle_path", "/nonexistent/ca.pem"),
        dash_conn(extra=json.dumps({"ca_bundle_path": "/nonexistent/ca.pem"})),
    ),
    "dash-unknown-conn-id": Case(
        submit(ray_dashboard_conn_id="no_such_dashboard"), AirflowNotFoundException, ("no_such_dashboard",)
    ),
    "dash-url-param-no-scheme": Case(
        submit(dashboard_url="{{ '127.0.0.1:8265' }}"), ValueError, ("dashboard_url", "127.0.0.1:8265")
    ),
    "dash-url-param-rendered-empty-no-conn": Case(
        submit(ray_dashboard_conn_id=None, dashboard_url="{{ params.empty }}"), ValueError, ("dashboard_url",)
    ),
    # ---- KubeRaySubmitJobOperator ----------------------------------------------------------
    "submit-entrypoint-rendered-empty": Case(submit(entrypoint="{{ params.empty }}"), ValueError, ("entrypoint",)),
    "submit-runtime-env-a-list": Case(submit(runtime_env="- a\n- b"), ValueError, ("runtime_env",)),
    "submit-working-dir-missing": Case(
        submit(runtime_env={"working_dir": "/nonexistent/code"}), ValueError, ("runtime_env.working_dir",)
    ),
    "submit-resources-rendered-text": Case(
        submit(entrypoint_resources="{{ params.res }}"), ValueError, ("entrypoint_resources",)
    ),
    "submit-resources-negative": Case(
        submit(entrypoint_resources={"TPU": -1}), ValueError, ("entrypoint_resources['TPU']",)
    ),
    "submit-metadata-rendered-text": Case(submit(metadata="{{ params.word }}"), ValueError, ("metadata",)),
    "submit-submission-id-slash": Case(submit(submission_id="a/b c"), ValueError, ("submission_id",)),
    "submit-cluster-name-invalid": Case(
        submit(cluster_name="{{ 'My_Cluster' }}", ray_dashboard_conn_id=None), ValueError, ("cluster_name",)
    ),
    "submit-namespace-rendered-none": Case(
        submit(cluster_name="c1", namespace="{{ params.none }}", ray_dashboard_conn_id=None),
        ValueError,
        ("namespace", "'None'"),
    ),
    # ---- KubeRayRunJobOperator -------------------------------------------------------------
    "runjob-no-cluster": Case(run_job(cluster=None), ValueError, ("cluster", "cluster_name")),
    "runjob-cluster-name-rendered-empty": Case(
        run_job(cluster=None, cluster_name="{{ params.empty }}"), ValueError, ("cluster_name",)
    ),
    "runjob-entrypoint-rendered-empty": Case(run_job(entrypoint="{{ params.empty }}"), ValueError, ("entrypoint",)),
    "runjob-submission-mode": Case(run_job(submission_mode="Batch"), ValueError, ("submissionMode", "'Batch'")),
    "runjob-ttl-negative": Case(run_job(ttl_seconds_after_finished=-1), ValueError, ("ttlSecondsAfterFinished",)),
    "runjob-name-invalid": Case(run_job(name="{{ 'Bad_Name' }}"), ValueError, ("name", "'Bad_Name'")),
    "runjob-namespace-rendered-none": Case(run_job(namespace="{{ params.none }}"), ValueError, ("namespace", "'None'")),
    "runjob-metadata-rendered-text": Case(run_job(metadata="{{ params.word }}"), ValueError, ("metadata",)),
    "runjob-overrides-not-yaml": Case(run_job(job_overrides="spec: [unclosed"), ValueError, ("overrides",)),
    "runjob-overrides-wrong-type": Case(
        run_job(job_overrides="backoffLimit: three"), ValueError, ("spec.backoffLimit",)
    ),
    "runjob-resources-rendered-text": Case(
        run_job(entrypoint_resources="{{ params.res }}"), ValueError, ("entrypoint_resources",)
    ),
    "runjob-worker-max-below-min": Case(
        run_job(
            cluster=ClusterSpec(
                image=IMAGE, ray_version="2.52.0", worker_groups=[WorkerGroup("cpu", min_replicas=3, max_replicas=1)]
            )
        ),
        ValueError,
        ("workerGroupSpecs[0]", "maxReplicas"),
    ),
    # ---- KubeRayCreateClusterOperator ------------------------------------------------------
    "create-raw-not-yaml": Case(_cluster_template_field("spec: [unclosed"), ValueError, ("cluster",)),
    "create-raw-without-head": Case(
        _cluster_template_field("apiVersion: ray.io/v1\nkind: RayCluster\nspec: {}"),
        ValueError,
        ("spec.headGroupSpec",),
    ),
    "create-raw-wrong-kind": Case(
        lambda: KubeRayCreateClusterOperator(
            task_id="t", cluster=RAW_CLUSTER_YAML.replace("kind: RayCluster", "kind: RayJob"), deferrable=False
        ),
        ValueError,
        ("kind",),
    ),
    "create-cluster-name-invalid": Case(
        create_cluster(cluster_name="{{ 'UPPER' }}"), ValueError, ("cluster_name", "'UPPER'")
    ),
    "create-labels-rendered-text": Case(create_cluster(labels="{{ params.word }}"), ValueError, ("labels",)),
    "create-label-value-invalid": Case(create_cluster(labels={"team": "a b/c"}), ValueError, ("labels", "team")),
    "create-overrides-a-list": Case(create_cluster(overrides="- 1\n- 2"), ValueError, ("overrides",)),
    "create-namespace-rendered-none": Case(
        create_cluster(namespace="{{ params.none }}"), ValueError, ("namespace", "'None'")
    ),
    # ---- KubeRayDeleteClusterOperator ------------------------------------------------------
    "delete-cluster-name-rendered-empty": Case(
        delete_cluster(cluster_name="{{ params.empty }}"), ValueError, ("cluster_name",)
    ),
    "delete-cluster-name-invalid": Case(
        delete_cluster(cluster_name="{{ 'c1/../x' }}"), ValueError, ("cluster_name", "'c1/../x'")
    ),
    "delete-cluster-namespace-invalid": Case(
        delete_cluster(namespace="{{ 'Prod NS' }}"), ValueError, ("namespace", "'Prod NS'")
    ),
    # ---- KubeRayDeployServiceOperator ------------------------------------------------------
    "deploy-serve-config-not-yaml": Case(
        deploy_service(serve_config="applications: [unclosed"), ValueError, ("serve_config",)
    ),
    "deploy-serve-config-a-list": Case(deploy_service(serve_config="- a\n- b"), ValueError, ("serve_config",)),
    "deploy-service-name-invalid": Case(
        deploy_service(service_name="{{ 'svc_1' }}"), ValueError, ("service_name", "'svc_1'")
    ),
    "deploy-labels-rendered-text": Case(deploy_service(labels="{{ params.word }}"), ValueError, ("labels",)),
    "deploy-raw-without-serve-config": Case(
        deploy_service(service={"metadata": {"name": "s"}, "spec": {"rayClusterConfig": {}}}),
        ValueError,
        ("spec.",),
    ),
    # ---- KubeRayDeleteServiceOperator ------------------------------------------------------
    "delete-service-name-rendered-empty": Case(
        delete_service(service_name="{{ params.empty }}"), ValueError, ("service_name",)
    ),
    "delete-service-name-invalid": Case(
        delete_service(service_name="{{ 'Svc' }}"), ValueError, ("service_name", "'Svc'")
    ),
    # ---- sensors ---------------------------------------------------------------------------
    "cluster-sensor-name-invalid": Case(
        sensor(KubeRayClusterSensor, cluster_name="{{ 'My.Cluster' }}"), ValueError, ("cluster_name",)
    ),
    "cluster-sensor-namespace-rendered-none": Case(
        sensor(KubeRayClusterSensor, cluster_name="c1", namespace="{{ params.none }}"),
        ValueError,
        ("namespace", "'None'"),
    ),
    "service-sensor-generation-text": Case(
        sensor(KubeRayServiceSensor, service_name="s1", generation="{{ params.word }}"),
        ValueError,
        ("generation", "'abc'"),
    ),
    "service-sensor-applications-text": Case(
        sensor(KubeRayServiceSensor, service_name="s1", applications="{{ params.names }}"),
        ValueError,
        ("applications",),
    ),
    "job-sensor-job-name-invalid": Case(
        sensor(KubeRayJobSensor, job_name="{{ 'Job_1' }}"), ValueError, ("job_name", "'Job_1'")
    ),
    "job-sensor-submission-id-rendered-empty": Case(
        sensor(KubeRayJobSensor, submission_id="{{ params.empty }}"), ValueError, ("submission_id",)
    ),
    "job-sensor-dashboard-url-invalid": Case(
        sensor(KubeRayJobSensor, submission_id="s1", dashboard_url="{{ 'localhost' }}"),
        ValueError,
        ("dashboard_url",),
    ),
    # ---- @task.kuberay ---------------------------------------------------------------------
    "decorated-argument-not-json": Case(
        decorated(call_kwargs={"x": {1, 2}}), ValueError, ("arguments of 'square'", "JSON")
    ),
    "decorated-cluster-name-invalid": Case(
        decorated(cluster_name="{{ 'Shared_Cluster' }}"), ValueError, ("cluster_name",)
    ),
    "decorated-namespace-rendered-none": Case(
        decorated(namespace="{{ params.none }}"), ValueError, ("namespace", "'None'")
    ),
}


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeKubeApi, FakeDashboard]]:
    for kube in running_fake_kube_api():
        for dash in running_fake_dashboard():
            yield kube, dash


def _install_connections(monkeypatch: pytest.MonkeyPatch, kube: FakeKubeApi, dash: FakeDashboard, case: Case) -> None:
    conns = {
        "kuberay_default": kube_conn(kube, dashboard_access="url", dashboard_url=dash.url),
        "ray_dashboard_default": {"conn_type": "ray_dashboard", "host": dash.url},
        **case.conns(kube, dash),
    }
    for conn_id, conn in conns.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def _concise(err: BaseException) -> None:
    """No traceback noise: one short message, and no chained exception shown under it."""
    text = str(err)
    assert text.strip(), "empty message"
    assert "Traceback" not in text, text
    assert "During handling" not in text, text
    assert len(text.splitlines()) <= 3, text
    assert len(text) < 600, text
    assert err.__cause__ is None, f"chained cause: {err.__cause__!r}"
    assert err.__context__ is None or err.__suppress_context__, f"chained context: {err.__context__!r}"


def test_at_least_forty_distinct_bad_inputs() -> None:
    assert len(CASES) >= 40
    kinds = {case.build().__class__.__name__ for case in CASES.values()}
    assert kinds >= {
        "KubeRaySubmitJobOperator",
        "KubeRayRunJobOperator",
        "KubeRayCreateClusterOperator",
        "KubeRayDeleteClusterOperator",
        "KubeRayDeployServiceOperator",
        "KubeRayDeleteServiceOperator",
        "KubeRayClusterSensor",
        "KubeRayJobSensor",
        "KubeRayServiceSensor",
        "KubeRayDecoratedOperator",
    }


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_rejected_before_any_call(
    name: str, fakes: tuple[FakeKubeApi, FakeDashboard], monkeypatch: pytest.MonkeyPatch
) -> None:
    kube, dash = fakes
    case = CASES[name]
    _install_connections(monkeypatch, kube, dash, case)
    kube.requests.clear()
    dash.requests.clear()
    context: dict[str, Any] = {**context_for(), "params": PARAMS}
    task = case.build()
    task.render_template_fields(context)  # type: ignore[arg-type]
    with pytest.raises(case.error) as info:
        task.execute(context)  # type: ignore[arg-type]
    for text in case.names:
        assert text in str(info.value), f"{text!r} not named in: {info.value}"
    _concise(info.value)
    assert kube.requests == [], f"Kubernetes API called: {kube.requests}"
    assert dash.requests == [], f"Ray dashboard called: {dash.requests}"
