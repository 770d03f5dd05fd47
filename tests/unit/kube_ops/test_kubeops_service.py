"""RayService deploy/upgrade/delete operators, sensor and trigger; the Kubernetes API faked at the HTTP boundary."""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_kuberay.exceptions import KubeRayResourceFailedError, KubeRayTimeoutError
from airflow_provider_kuberay.operators import KubeRayDeleteServiceOperator, KubeRayDeployServiceOperator
from airflow_provider_kuberay.operators import _service_change as change_of
from airflow_provider_kuberay.sensors import KubeRayServiceSensor
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, ServiceSpec, resource_name
from airflow_provider_kuberay.triggers.ray_service import RayServiceTrigger, check_serving, describe_progress
from tests.support.airflow_context import FakeTaskInstance, context_for
from tests.support.airflow_exceptions import TaskDeferred
from tests.support.fake_kube_api import FakeKubeApi, running_fake_kube_api

DATA = Path(__file__).resolve().parents[2] / "data" / "status" / "rayservice.yaml"
NS = "serve"
NAME = "fruit"
CLUSTER = ClusterSpec(image="rayproject/ray:2.52.0", ray_version="2.52.0", head=HeadGroup())
CONFIG_V1 = {"applications": [{"name": "fruit_app", "import_path": "fruit:app", "route_prefix": "/"}]}
CONFIG_V2 = {
    "applications": [
        {"name": "fruit_app", "import_path": "fruit:app", "route_prefix": "/", "args": {"price": 2}},
    ]
}


def _case(name: str) -> dict[str, Any]:
    for doc in yaml.safe_load_all(DATA.read_text()):
        if doc["case"] == name:
            return copy.deepcopy(dict(doc["object"]))
    raise KeyError(name)


def _status(case: str, *, observed: int | None = None, active: str | None = None) -> dict[str, Any]:
    """A recorded status, re-aimed at a generation and (optionally) another active cluster."""
    status = _case(case)["status"]
    if observed is not None:
        status["observedGeneration"] = observed
    if active is not None:
        status["activeServiceStatus"]["rayClusterName"] = active
    return dict(status)


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeApi]:
    for api in running_fake_kube_api():
        monkeypatch.setenv(
            "AIRFLOW_CONN_KUBERAY_DEFAULT",
            api.connection_json(
                namespace=NS, dashboard_access="url", dashboard_url="https://ray.test/{namespace}/{cluster}"
            ),
        )
        yield api


def _deploy(**kwargs: Any) -> KubeRayDeployServiceOperator:
    defaults: dict[str, Any] = {
        "task_id": "deploy",
        "service": ServiceSpec(serve_config=CONFIG_V1, cluster=CLUSTER),
        "service_name": NAME,
        "deferrable": False,
        "resync_interval": 0.3,
        "settle_seconds": 0.2,
    }
    return KubeRayDeployServiceOperator(**{**defaults, **kwargs})


def _script(kube: FakeKubeApi, steps: list[tuple[float, dict[str, Any]]], *, after_generation: int = 1) -> None:
    """Play statuses as KubeRay would, once the object exists at ``after_generation``."""

    def play() -> None:
        for _ in range(300):
            obj = kube.get("RayService", NS, NAME)
            if obj is not None and obj["metadata"].get("generation", 1) >= after_generation:
                break
            time.sleep(0.05)
        for delay, status in steps:
            time.sleep(delay)
            kube.set_status("RayService", NS, NAME, status)

    threading.Thread(target=play, daemon=True).start()


def _existing(kube: FakeKubeApi, config: dict[str, Any] = CONFIG_V1, cluster: ClusterSpec = CLUSTER) -> dict[str, Any]:
    """A RayService created earlier (by our deploy operator, so with its annotations), serving."""
    from airflow_provider_kuberay.specs import ray_service_body

    body = ray_service_body(NAME, ServiceSpec(serve_config=config, cluster=cluster), namespace=NS)
    body["metadata"]["annotations"] = {change_of.CLUSTER_HASH: change_of.content_hash(body["spec"]["rayClusterConfig"])}
    kube.put_object("RayService", body, NS)
    return kube.set_status("RayService", NS, NAME, _status("serving", observed=1))


def _logged(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    """The task log, wherever Airflow's logging setup sent it (stdlib records or structlog's stdout)."""
    captured = capsys.readouterr()
    return caplog.text + captured.out + captured.err


def _mutations(kube: FakeKubeApi) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in kube.requests if m in ("POST", "PATCH", "DELETE", "PUT") and "rayservices" in p]


# -- pure: every recorded status path ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("case", "serving", "failed", "progress_has"),
    [
        ("created-no-status-yet", False, False, "NoStatus"),
        ("initializing-first-cluster-pending", False, False, "pending fruit-9xk2m [fruit_app=DEPLOYING]"),
        ("serving", True, False, "active fruit-9xk2m [fruit_app=RUNNING, math_app=RUNNING]"),
        ("ready-but-application-deploying-in-place", False, False, "math_app=DEPLOYING"),
        ("ready-but-application-unhealthy", False, False, "fruit_app=UNHEALTHY"),
        ("ready-but-no-applications-reported", False, False, "no applications yet"),
        ("active-application-deploy-failed", False, True, "DEPLOY_FAILED"),
        ("mid-upgrade-new-cluster-blue-green", False, False, "pending fruit-4hq7z [fruit_app=DEPLOYING]"),
        ("mid-upgrade-incremental-traffic-shift", False, False, "pending fruit-4hq7z [fruit_app=RUNNING, traffic 30%]"),
        ("upgrade-pending-application-deploy-failed", False, True, "fruit_app=DEPLOY_FAILED"),
        ("rollback-in-progress", False, False, "RollbackInProgress"),
        ("validation-failed-generation-not-observed", False, True, "ValidationFailed"),
        ("initializing-timeout", False, True, "InitializingTimeout"),
        ("zero-serve-endpoints", False, False, "ZeroServeEndpoints"),
        ("suspended", False, False, "SUSPENDED"),
        ("spec-updated-not-yet-observed-while-ready", False, False, "SpecChangeNotObserved"),
        ("old-operator-no-conditions-running", True, False, "SERVING"),
        ("old-operator-no-conditions-pending-cluster", False, False, "PendingClusterExists"),
        ("old-operator-waiting-for-serve", False, False, "WaitForServeDeploymentReady"),
    ],
)
def test_check_serving_on_recorded_documents(case: str, serving: bool, failed: bool, progress_has: str) -> None:
    check = check_serving(_case(case))
    assert (check.serving, check.failed) == (serving, failed)
    assert progress_has in check.progress


def test_failed_deploy_carries_serves_message() -> None:
    check = check_serving(_case("active-application-deploy-failed"))
    assert "ModuleNotFoundError: No module named 'fruit'" in check.message
    assert "pending cluster fruit-4hq7z" in check_serving(_case("upgrade-pending-application-deploy-failed")).message


def test_unhealthy_is_reported_not_failed_at_once() -> None:
    check = check_serving(_case("ready-but-application-unhealthy"))
    assert check.unhealthy == ("fruit_app: The deployment MangoStand is UNHEALTHY",)


def test_serving_needs_generation_apps_and_promotion() -> None:
    doc = _case("serving")
    assert check_serving(doc, generation=1, applications=["fruit_app", "math_app"]).serving
    assert check_serving(doc, generation=2).reason == "SpecChangeNotObserved"
    assert check_serving(doc, applications=["new_app"]).reason == "ApplicationsMissing"
    assert check_serving(doc, replaced_cluster="fruit-9xk2m").reason == "NotPromoted"
    assert check_serving(doc, replaced_cluster="fruit-old").serving


def test_progress_line_for_incremental_steps() -> None:
    line = describe_progress(_case("mid-upgrade-incremental-traffic-shift"))
    assert "active fruit-9xk2m [fruit_app=RUNNING, traffic 70%]" in line
    assert "pending fruit-4hq7z [fruit_app=RUNNING, traffic 30%]" in line


# -- pure: change classification ------------------------------------------------------------------------------
def _spec(config: dict[str, Any] = CONFIG_V1, cluster: ClusterSpec = CLUSTER, **kw: Any) -> dict[str, Any]:
    return ServiceSpec(serve_config=config, cluster=cluster, **kw).to_dict()


def _obj(spec: dict[str, Any], *, hashed: bool = True) -> dict[str, Any]:
    annotations = {change_of.CLUSTER_HASH: change_of.content_hash(spec["rayClusterConfig"])} if hashed else {}
    return {"metadata": {"annotations": annotations}, "spec": spec}


def test_classify_change() -> None:
    base = _spec()
    assert change_of.classify_change(_obj(base), _spec()) == change_of.UNCHANGED
    assert change_of.classify_change(_obj(base), _spec(CONFIG_V2)) == change_of.SERVE_CONFIG
    other_image = ClusterSpec(image="rayproject/ray:2.53.0", ray_version="2.53.0", head=HeadGroup())
    assert change_of.classify_change(_obj(base), _spec(cluster=other_image)) == change_of.CLUSTER
    assert change_of.classify_change(_obj(base), _spec(upgrade_strategy="None")) == change_of.OTHER


def test_classify_ignores_yaml_formatting_and_server_defaults() -> None:
    current = _spec()
    current["serveConfigV2"] = yaml.safe_dump(CONFIG_V1, default_flow_style=True)
    current["rayClusterConfig"]["headGroupSpec"]["serviceType"] = "ClusterIP"  # defaulted by the server
    assert change_of.classify_change(_obj(current, hashed=False), _spec()) == change_of.UNCHANGED


def test_removed_cluster_field_is_a_change_when_the_applied_hash_is_known() -> None:
    current = _spec()
    desired = copy.deepcopy(current)
    current["rayClusterConfig"]["headGroupSpec"]["serviceType"] = "NodePort"
    obj = {"metadata": {"annotations": {change_of.CLUSTER_HASH: change_of.content_hash(current["rayClusterConfig"])}}}
    assert change_of.classify_change({**obj, "spec": current}, desired) == change_of.CLUSTER


def test_merge_patch_replaces_removes_and_keeps() -> None:
    current = {"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]}
    desired = {"a": 1, "b": {"c": 5}, "l": [1], "n": "x"}
    assert change_of.merge_patch(current, desired) == {"b": {"c": 5, "d": None}, "l": [1], "n": "x"}


def test_describe_change_names_the_guarantee() -> None:
    assert "blue/green" in change_of.describe_change(change_of.CLUSTER, "NewCluster", "c1")
    assert "step by step" in change_of.describe_change(change_of.CLUSTER, "NewClusterWithIncrementalUpgrade", "c1")
    assert "does not roll out" in change_of.describe_change(change_of.CLUSTER, "None", "c1")
    assert "in place" in change_of.describe_change(change_of.SERVE_CONFIG, "NewCluster", "c1")


# -- operator paths ---------------------------------------------------------------------------------------------
def test_fresh_deploy_creates_waits_and_reports(kube: FakeKubeApi) -> None:
    _script(kube, [(0.2, _status("initializing-first-cluster-pending")), (0.3, _status("serving"))])
    ti = FakeTaskInstance()
    result = _deploy().execute(context_for(ti))
    assert result == {
        "service_name": NAME,
        "namespace": NS,
        "active_cluster": "fruit-9xk2m",
        "serve_endpoint": f"http://{NAME}-serve-svc.{NS}.svc.cluster.local:8000",
        "dashboard_url": f"https://ray.test/{NS}/fruit-9xk2m",
        "strategy": "NewCluster",
        "change": "created",
        "generation": 1,
        "applications": {"fruit_app": "RUNNING", "math_app": "RUNNING"},
    }
    created = kube.get("RayService", NS, NAME)
    assert created is not None
    assert created["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "airflow-provider-kuberay"
    assert change_of.CLUSTER_HASH in created["metadata"]["annotations"]
    assert ti.xcoms["active_cluster"] == "fruit-9xk2m"
    assert ti.xcoms["applications"] == {"fruit_app": "RUNNING", "math_app": "RUNNING"}


def test_default_name_is_stable_across_runs(kube: FakeKubeApi) -> None:
    _script(kube, [])
    names = set()
    for run in ("run_a", "run_b"):
        op = _deploy(service_name=None, wait_until_serving=False)
        names.add(op.execute(context_for(FakeTaskInstance(run_id=run)))["service_name"])
    assert names == {resource_name("dag", "task", "", -1, kind="RayService")}


def test_serve_config_upgrade_is_in_place(
    kube: FakeKubeApi, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    _existing(kube)
    in_place = _status("ready-but-application-deploying-in-place", observed=2)
    _script(kube, [(0.2, in_place), (0.3, _status("serving", observed=2))], after_generation=2)
    with caplog.at_level(logging.INFO):
        result = _deploy(serve_config=CONFIG_V2).execute(context_for())
    logged = _logged(caplog, capsys)
    assert result["change"] == "serve_config"
    assert result["generation"] == 2
    assert "Serve config change only" in logged
    assert "math_app=DEPLOYING" in logged  # progress while waiting
    stored = kube.get("RayService", NS, NAME)
    assert stored is not None
    assert yaml.safe_load(stored["spec"]["serveConfigV2"]) == CONFIG_V2


def test_in_place_update_must_still_serve_after_settling(kube: FakeKubeApi) -> None:
    # KubeRay can report the new generation RUNNING before Serve has acted on the new config.
    _existing(kube)
    steps = [
        (0.1, _status("serving", observed=2)),
        (0.2, _status("ready-but-application-deploying-in-place", observed=2)),
        (0.8, _status("serving", observed=2)),
    ]
    _script(kube, steps, after_generation=2)
    started = time.monotonic()
    result = _deploy(serve_config=CONFIG_V2, settle_seconds=0.5).execute(context_for())
    assert time.monotonic() - started >= 1.1 + 0.5
    assert result["change"] == "serve_config"


def test_serve_config_from_a_yaml_file(kube: FakeKubeApi, tmp_path: Path) -> None:
    _existing(kube)
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(CONFIG_V2))
    _script(kube, [(0.2, _status("serving", observed=2))], after_generation=2)
    assert _deploy(serve_config=str(path)).execute(context_for())["change"] == "serve_config"


def test_cluster_upgrade_waits_for_promotion(
    kube: FakeKubeApi, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    _existing(kube)
    new_cluster = ClusterSpec(image="rayproject/ray:2.53.0", ray_version="2.53.0", head=HeadGroup())
    steps = [
        # Generation observed but the old cluster still active: not done yet.
        (0.2, _status("serving", observed=2)),
        (0.3, _status("mid-upgrade-new-cluster-blue-green", observed=2)),
        (0.3, _status("serving", observed=2, active="fruit-4hq7z")),
    ]
    _script(kube, steps, after_generation=2)
    with caplog.at_level(logging.INFO):
        started = time.monotonic()
        result = _deploy(service=ServiceSpec(serve_config=CONFIG_V1, cluster=new_cluster)).execute(context_for())
    logged = _logged(caplog, capsys)
    assert time.monotonic() - started >= 0.7
    assert result["change"] == "cluster"
    assert result["active_cluster"] == "fruit-4hq7z"
    assert "blue/green" in logged
    assert "pending fruit-4hq7z [fruit_app=DEPLOYING]" in logged


def test_incremental_upgrade_logs_traffic_steps(
    kube: FakeKubeApi, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    _existing(kube)
    new_cluster = ClusterSpec(image="rayproject/ray:2.53.0", ray_version="2.53.0", head=HeadGroup())
    shift = _status("mid-upgrade-incremental-traffic-shift", observed=2)
    further = copy.deepcopy(shift)
    further["activeServiceStatus"]["trafficRoutedPercent"] = 40
    further["pendingServiceStatus"]["trafficRoutedPercent"] = 60
    steps = [(0.2, shift), (0.3, further), (0.3, _status("serving", observed=2, active="fruit-4hq7z"))]
    _script(kube, steps, after_generation=2)
    spec = ServiceSpec(serve_config=CONFIG_V1, cluster=new_cluster)
    options = {"gatewayClassName": "istio", "stepSizePercent": 30, "intervalSeconds": 30, "maxSurgePercent": 100}
    body = {
        "spec": {
            "upgradeStrategy": {"type": "NewClusterWithIncrementalUpgrade", "clusterUpgradeOptions": options},
            "rayClusterConfig": {"enableInTreeAutoscaling": True},
        }
    }
    with caplog.at_level(logging.INFO):
        result = _deploy(service=spec, overrides=body).execute(context_for())
    logged = _logged(caplog, capsys)
    assert result["strategy"] == "NewClusterWithIncrementalUpgrade"
    assert result["active_cluster"] == "fruit-4hq7z"
    assert "step by step" in logged
    assert "traffic 30%" in logged
    assert "traffic 60%" in logged


def test_unchanged_spec_is_a_fast_no_op_that_checks_serving(
    kube: FakeKubeApi, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    _existing(kube)
    kube.requests.clear()
    started = time.monotonic()
    with caplog.at_level(logging.INFO):
        result = _deploy().execute(context_for())
    logged = _logged(caplog, capsys)
    assert time.monotonic() - started < 2
    assert result["change"] == "unchanged"
    assert _mutations(kube) == []
    assert "Spec unchanged" in logged


def test_failed_upgrade_fails_with_serves_message_and_deletes_nothing(kube: FakeKubeApi) -> None:
    _existing(kube)
    failing = _status("upgrade-pending-application-deploy-failed", observed=2)
    _script(kube, [(0.2, failing)], after_generation=2)
    new_cluster = ClusterSpec(image="rayproject/ray:2.53.0", ray_version="2.53.0", head=HeadGroup())
    with pytest.raises(KubeRayResourceFailedError, match="cannot import name 'deployment_graph'") as err:
        _deploy(service=ServiceSpec(serve_config=CONFIG_V1, cluster=new_cluster)).execute(context_for())
    assert "left as it is" in str(err.value)
    assert all(method != "DELETE" for method, _ in _mutations(kube))
    stored = kube.get("RayService", NS, NAME)
    assert stored is not None
    assert stored["spec"]["rayClusterConfig"]["rayVersion"] == "2.53.0"


def test_rollback_on_failure_reapplies_the_previous_spec(kube: FakeKubeApi) -> None:
    before = _existing(kube)
    failing = _status("upgrade-pending-application-deploy-failed", observed=2)
    _script(kube, [(0.2, failing)], after_generation=2)
    new_cluster = ClusterSpec(image="rayproject/ray:2.53.0", ray_version="2.53.0", head=HeadGroup())
    op = _deploy(service=ServiceSpec(serve_config=CONFIG_V1, cluster=new_cluster), rollback_on_failure=True)
    with pytest.raises(KubeRayResourceFailedError, match="Rolled back to the previous spec"):
        op.execute(context_for())
    stored = kube.get("RayService", NS, NAME)
    assert stored is not None
    assert stored["spec"] == before["spec"]
    assert stored["metadata"]["generation"] == 3
    assert all(method != "DELETE" for method, _ in _mutations(kube))


def test_stuck_upgrade_times_out_without_deleting(kube: FakeKubeApi) -> None:
    _existing(kube)
    stuck = _status("mid-upgrade-new-cluster-blue-green", observed=2)
    _script(kube, [(0.1, stuck)], after_generation=2)
    new_cluster = ClusterSpec(image="rayproject/ray:2.53.0", ray_version="2.53.0", head=HeadGroup())
    op = _deploy(service=ServiceSpec(serve_config=CONFIG_V1, cluster=new_cluster))
    op.execution_timeout = timedelta(seconds=1.5)
    with pytest.raises(KubeRayTimeoutError, match="did not finish before the task's deadline") as err:
        op.execute(context_for())
    assert "pending fruit-4hq7z" in str(err.value)
    assert kube.get("RayService", NS, NAME) is not None
    assert all(method != "DELETE" for method, _ in _mutations(kube))


def test_lasting_unhealthy_application_fails(kube: FakeKubeApi) -> None:
    _existing(kube)
    _script(kube, [(0.2, _status("ready-but-application-unhealthy", observed=2))], after_generation=2)
    with pytest.raises(KubeRayResourceFailedError, match="MangoStand is UNHEALTHY"):
        _deploy(serve_config=CONFIG_V2, unhealthy_grace=0.3).execute(context_for())


def test_on_kill_touches_nothing(kube: FakeKubeApi) -> None:
    _existing(kube)
    kube.requests.clear()
    _deploy().on_kill()
    assert kube.requests == []


def test_deferrable_defers_with_names_only(kube: FakeKubeApi) -> None:
    _existing(kube)
    with pytest.raises(TaskDeferred) as deferred:
        _deploy(serve_config=CONFIG_V2, deferrable=True).execute(context_for())
    trigger = deferred.value.trigger
    assert isinstance(trigger, RayServiceTrigger)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_kuberay.triggers.ray_service.RayServiceTrigger"
    assert kwargs["name"] == NAME
    assert kwargs["namespace"] == NS
    assert kwargs["generation"] == 2
    assert kwargs["applications"] == ["fruit_app"]
    assert kwargs["carry"]["previous_spec"] is None
    assert kwargs["settle_seconds"] == 0.2
    assert "token" not in str(kwargs)
    assert "rayClusterConfig" not in str(kwargs)


def test_execute_complete_finishes_from_the_event(kube: FakeKubeApi) -> None:
    event = {
        "kind": "RayService",
        "name": NAME,
        "namespace": NS,
        "outcome": "succeeded",
        "active_cluster": "fruit-4hq7z",
        "applications": {"fruit_app": "RUNNING"},
        "generation": 2,
        "carry": {"strategy": "NewCluster", "change": "cluster"},
    }
    result = _deploy().execute_complete(context_for(), event)
    assert result["dashboard_url"] == f"https://ray.test/{NS}/fruit-4hq7z"
    assert result["change"] == "cluster"


def test_bad_serve_config_fails_before_any_call(kube: FakeKubeApi) -> None:
    with pytest.raises(ValueError, match="applications"):
        _deploy(serve_config={"applications": []}).execute(context_for())
    assert _mutations(kube) == []


# -- delete, sensor ---------------------------------------------------------------------------------------------
def test_delete_waits_until_gone_and_is_idempotent(kube: FakeKubeApi) -> None:
    _existing(kube)
    kube.hold_deletion("RayService", NS, NAME, reads=2)
    op = KubeRayDeleteServiceOperator(task_id="delete", service_name=NAME)
    assert op.execute(context_for()) is True
    assert kube.get("RayService", NS, NAME) is None
    assert op.execute(context_for()) is False


def test_sensor_pokes_serving_generation_and_failure(kube: FakeKubeApi) -> None:
    _existing(kube)
    assert KubeRayServiceSensor(task_id="s", service_name=NAME, deferrable=False).poke(context_for())
    assert not KubeRayServiceSensor(task_id="s", service_name=NAME, generation="2").poke(context_for())
    kube.set_status("RayService", NS, NAME, _status("active-application-deploy-failed"))
    with pytest.raises(KubeRayResourceFailedError, match="ModuleNotFoundError"):
        KubeRayServiceSensor(task_id="s", service_name=NAME).poke(context_for())


def test_deferrable_sensor_defers_then_judges_the_event(kube: FakeKubeApi) -> None:
    _existing(kube)
    sensor = KubeRayServiceSensor(task_id="s", service_name=NAME, generation=2, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context_for())
    assert isinstance(deferred.value.trigger, RayServiceTrigger)
    with pytest.raises(KubeRayResourceFailedError, match="DEPLOY_FAILED"):
        sensor.execute_complete(
            context_for(),
            {"kind": "RayService", "name": NAME, "namespace": NS, "outcome": "failed", "message": "DEPLOY_FAILED"},
        )


def test_raw_dict_without_kind_is_a_rayservice(kube: FakeKubeApi) -> None:
    from airflow_provider_kuberay.specs import ray_service_body

    spec = ray_service_body(NAME, ServiceSpec(serve_config=CONFIG_V1, cluster=CLUSTER))["spec"]
    op = _deploy(service={"metadata": {"name": "raw-svc"}, "spec": spec}, service_name=None, wait_until_serving=False)
    assert op.execute(context_for())["service_name"] == "raw-svc"
    created = kube.get("RayService", NS, "raw-svc")
    assert created is not None
    assert created["kind"] == "RayService"


def test_deploy_lineage_names_the_service_its_generation_and_active_cluster(kube: FakeKubeApi) -> None:
    _script(kube, [(0.2, _status("serving"))])
    op = _deploy()
    assert op.get_openlineage_facets_on_start().run_facets["kuberay"].rayServiceName == NAME
    op.execute(context_for(FakeTaskInstance()))
    facets = op.get_openlineage_facets_on_complete(None).run_facets
    facet = facets["kuberay"]
    assert (facet.rayServiceName, facet.rayServiceVersion, facet.namespace) == (NAME, "1", NS)
    assert (facet.rayClusterName, facet.dashboardUrl) == ("fruit-9xk2m", f"https://ray.test/{NS}/fruit-9xk2m")
    assert "externalQuery" not in facets  # a service has no Ray job
