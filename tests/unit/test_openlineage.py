"""
OpenLineage: the run facet builders (the Ray dashboard faked at the HTTP boundary), the parent run
handed to the Ray job, and that nothing of OpenLineage is imported, or needed, at DAG parse.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading

import pytest

from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook
from airflow_provider_kuberay.hooks.retry import RetryPolicy
from airflow_provider_kuberay.lineage import parent
from airflow_provider_kuberay.lineage.facets import KubeRayRunFacet, operator_lineage
from airflow_provider_kuberay.lineage.parent import ParentRun, with_parent_env
from airflow_provider_kuberay.lineage.run import RayRun
from airflow_provider_kuberay.operators import KubeRaySubmitJobOperator, submit_job
from airflow_provider_kuberay.tasks.identity import submission_id_for
from tests.conftest import ROOT
from tests.support.airflow_context import FakeTaskInstance, context_for
from tests.support.fake_dashboard import FakeDashboard

FAST = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.01)
LINEAGE = ParentRun("airflow-ns", "dag.task", "0190-task-run", "airflow-ns", "dag", "0190-dag-run")


def test_parent_run_as_openlineage_environment_variables() -> None:
    env = LINEAGE.env_vars()
    assert env["OPENLINEAGE_PARENT_ID"] == "airflow-ns/dag.task/0190-task-run"
    assert env["OPENLINEAGE_ROOT_PARENT_ID"] == "airflow-ns/dag/0190-dag-run"
    assert json.loads(env["OPENLINEAGE_CONTEXT"]) == {
        "parent": {
            "run": {"runId": "0190-task-run"},
            "job": {"namespace": "airflow-ns", "name": "dag.task"},
            "root": {"run": {"runId": "0190-dag-run"}, "job": {"namespace": "airflow-ns", "name": "dag"}},
        }
    }


def test_parent_joins_the_users_env_vars_and_never_replaces_them() -> None:
    runtime_env = {"pip": ["pandas"], "env_vars": {"A": "1"}}
    assert with_parent_env(runtime_env, LINEAGE) == {"pip": ["pandas"], "env_vars": {"A": "1", **LINEAGE.env_vars()}}
    assert runtime_env == {"pip": ["pandas"], "env_vars": {"A": "1"}}  # not changed in place
    assert with_parent_env({}, LINEAGE) == {"env_vars": LINEAGE.env_vars()}
    assert with_parent_env(runtime_env, None) == runtime_env  # OpenLineage off: nothing added
    for name in parent.PARENT_VARIABLES:  # the user chose the parent: none of the three is added
        mine = {"env_vars": {name: "theirs"}}
        assert with_parent_env(mine, LINEAGE) == mine


def test_no_parent_run_when_openlineage_is_not_configured() -> None:
    # The provider is installed, but with no transport configured it is disabled.
    assert parent.parent_run(FakeTaskInstance()) is None


def test_ray_run_keeps_what_is_known_and_completes_from_the_plan() -> None:
    seen = RayRun(submission_id="sid").updated(status="SUCCEEDED", cluster=None, namespace="")
    assert seen == RayRun(submission_id="sid", status="SUCCEEDED")
    planned = RayRun(submission_id="planned", dashboard_url="http://d", namespace="ns")
    assert seen.over(planned) == RayRun(
        submission_id="sid", dashboard_url="http://d", namespace="ns", status="SUCCEEDED"
    )


def test_facets_of_a_service_and_of_a_job() -> None:
    from openlineage.client.serde import Serde

    service = operator_lineage(RayRun(service="fruit", service_version="3", cluster="fruit-x", namespace="serve"))
    assert set(service.run_facets) == {"kuberay"}
    facet = json.loads(Serde.to_json(service.run_facets["kuberay"]))
    assert {k: v for k, v in facet.items() if not k.startswith("_")} == {
        "rayServiceName": "fruit",
        "rayServiceVersion": "3",
        "rayClusterName": "fruit-x",
        "namespace": "serve",
    }
    assert facet["_producer"]
    assert facet["_schemaURL"].endswith("KubeRayRunFacet:1-0-0")
    job = operator_lineage(RayRun(submission_id="sid", dashboard_url="http://127.0.0.1:8265"))
    assert isinstance(job.run_facets["kuberay"], KubeRayRunFacet)
    assert (job.run_facets["externalQuery"].externalQueryId, job.run_facets["externalQuery"].source) == ("sid", "ray")


def test_submit_job_facets_and_parent_at_the_http_boundary(
    fake_dashboard: FakeDashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    ti = FakeTaskInstance()
    sid = submission_id_for(ti.dag_id, ti.task_id, ti.run_id, ti.map_index)
    monkeypatch.setattr(submit_job, "current_context", lambda: context_for(ti))
    monkeypatch.setattr(parent, "parent_run", lambda ti: LINEAGE)
    op = KubeRaySubmitJobOperator(
        task_id="task",
        entrypoint="python a.py",
        runtime_env={"env_vars": {"A": "1"}},
        deferrable=False,
        poll_interval=0.05,
        dashboard_url=fake_dashboard.url,
        ray_dashboard_conn_id=None,
    )
    op.__dict__["hook"] = RayDashboardHook(None, dashboard_url=fake_dashboard.url, retry_policy=FAST)
    start = op.get_openlineage_facets_on_start().run_facets
    assert (start["kuberay"].submissionId, start["kuberay"].dashboardUrl) == (sid, fake_dashboard.url)
    assert start["kuberay"].status is None
    assert fake_dashboard.requests == []  # the start event asks Ray nothing

    threading.Timer(0.3, lambda: setattr(fake_dashboard.jobs[sid], "status", "SUCCEEDED")).start()
    assert op.execute(context_for(ti)) == sid
    assert fake_dashboard.last_submission["runtime_env"]["env_vars"] == {"A": "1", **LINEAGE.env_vars()}
    end = op.get_openlineage_facets_on_complete(ti).run_facets["kuberay"]
    assert (end.submissionId, end.dashboardUrl, end.status) == (sid, fake_dashboard.url, "SUCCEEDED")


def _isolated(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_operators_work_without_openlineage_installed() -> None:
    """With OpenLineage's packages unimportable, the operators import, parse and answer no facets."""
    code = """
        import glob, runpy, sys

        class NoOpenLineage:
            # Airflow still finds the provider's declaration (its entry point): only that stays importable.
            def find_spec(self, name, path=None, target=None):
                provider = name.startswith("airflow.providers.openlineage.") and not name.endswith(".get_provider_info")
                if name == "openlineage" or name.startswith("openlineage.") or provider:
                    raise ImportError(f"{name} is not installed")
                return None

        sys.meta_path.insert(0, NoOpenLineage())
        for hidden in ("openlineage.client", "airflow_provider_kuberay.lineage.facets"):
            try:
                __import__(hidden)
            except ImportError:
                pass
            else:
                raise AssertionError(f"{hidden} should not import")
        import airflow_provider_kuberay.operators as ops
        import airflow_provider_kuberay.decorators.kuberay, airflow_provider_kuberay.decorators.ray
        from airflow_provider_kuberay.lineage.parent import parent_run, with_task_parent
        for path in sorted(glob.glob("example_dags/example_*.py")):
            runpy.run_path(path)
        op = ops.KubeRaySubmitJobOperator(task_id="t", entrypoint="python a.py", dashboard_url="http://127.0.0.1:1")
        assert op.get_openlineage_facets_on_start() is None
        assert op.get_openlineage_facets_on_complete(None) is None
        assert op.get_openlineage_facets_on_failure(None) is None
        assert parent_run(object()) is None
        assert with_task_parent({"env_vars": {"A": "1"}}, object()) == {"env_vars": {"A": "1"}}
        print("ok")
    """
    assert _isolated(code) == "ok"


def test_dag_parse_imports_nothing_of_openlineage() -> None:
    """Importing the operators and every example DAG loads no OpenLineage module Airflow itself had not loaded."""
    code = """
        import glob, runpy, sys, warnings
        from airflow.sdk import BaseOperator
        from airflow.providers_manager import ProvidersManager
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ProvidersManager().taskflow_decorators

        def lineage_modules():
            return {m for m in sys.modules if m.startswith(("openlineage", "airflow.providers.openlineage"))}

        before = lineage_modules()
        import airflow_provider_kuberay.operators, airflow_provider_kuberay.sensors
        import airflow_provider_kuberay.decorators.kuberay, airflow_provider_kuberay.decorators.ray
        for path in sorted(glob.glob("example_dags/example_*.py")):
            runpy.run_path(path)
        print("new: " + ",".join(sorted(lineage_modules() - before)))
    """
    assert _isolated(code) == "new:"
