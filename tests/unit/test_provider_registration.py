"""Airflow's ProvidersManager sees the provider, its connection types and their form fields."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from airflow_provider_kuberay.get_provider_info import get_provider_info
from tests.support.airflow_versions import AIRFLOW_VERSION, CONN_FIELDS_SINCE


def test_provider_info_matches_airflows_schema() -> None:
    import json
    from importlib.resources import files

    import jsonschema

    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


@pytest.mark.skipif(AIRFLOW_VERSION < CONN_FIELDS_SINCE, reason="Airflow reads `conn-fields` since 3.2")
def test_providers_manager_sees_both_connection_types_and_their_fields() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-kuberay" in manager.providers
    hooks = manager.hooks
    assert hooks["ray_dashboard"].hook_class_name.endswith("RayDashboardHook")  # type: ignore[union-attr]
    assert hooks["kuberay"].hook_class_name.endswith("KubeRayHook")  # type: ignore[union-attr]
    widgets = manager.connection_form_widgets
    for field in ("headers", "verify_ssl", "ca_bundle_path", "timeout"):
        assert f"extra__ray_dashboard__{field}" in widgets
    for field in ("in_cluster", "kube_config_path", "kube_config", "cluster_context", "namespace", "dashboard_access"):
        assert f"extra__kuberay__{field}" in widgets
    assert widgets["extra__kuberay__kube_config"].is_sensitive
    behaviour = manager.field_behaviours["ray_dashboard"]
    assert behaviour["relabeling"]["host"] == "Dashboard URL"


@pytest.mark.skipif(AIRFLOW_VERSION >= CONN_FIELDS_SINCE, reason="the degraded form of Airflow < 3.2")
def test_before_airflow_3_2_the_connection_types_register_without_form_fields() -> None:
    """
    Airflow 3.1 ignores the declarative ``conn-fields``: both connection types still register with
    their hooks, on Airflow's plain connection form: their options go in the Extra field as JSON.
    """
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert manager.hooks["ray_dashboard"].hook_class_name.endswith("RayDashboardHook")  # type: ignore[union-attr]
    assert manager.hooks["kuberay"].hook_class_name.endswith("KubeRayHook")  # type: ignore[union-attr]
    assert not [
        name
        for name in manager.connection_form_widgets
        if name.startswith(("extra__kuberay__", "extra__ray_dashboard__"))
    ]


def test_every_registered_class_imports() -> None:
    from airflow.sdk.module_loading import import_string

    info = get_provider_info()
    modules = [
        m for group in ("operators", "sensors", "hooks", "triggers") for e in info[group] for m in e["python-modules"]
    ]
    for module in modules:
        __import__(module)
    for link in info["extra-links"]:
        import_string(link)


def test_parse_time_imports_stay_light() -> None:
    """
    Importing the operators, sensors and every example DAG must not load Ray, the Kubernetes clients
    or the cncf.kubernetes provider. Airflow core itself imports two leaf modules of that provider
    (``airflow.exceptions`` re-exports its exceptions), and to resolve ``@task.<name>`` it reads
    every provider's info (Airflow < 3.3 imports each ``get_provider_info`` module for it), so what is
    forbidden is every module of it beyond what a bare ``from airflow.sdk import BaseOperator`` and
    that discovery already load.
    """
    code = textwrap.dedent(
        """
        import glob, sys, runpy
        from airflow.sdk import BaseOperator
        import warnings
        from airflow.providers_manager import ProvidersManager
        with warnings.catch_warnings():  # 3.2+ points to the task SDK's copy of the same discovery
            warnings.simplefilter("ignore")
            ProvidersManager().taskflow_decorators
        cncf = "airflow.providers.cncf.kubernetes"
        core_loaded = {m for m in sys.modules if m == cncf or m.startswith(cncf + ".")}
        import airflow_provider_kuberay.operators, airflow_provider_kuberay.sensors
        import airflow_provider_kuberay.decorators.kuberay, airflow_provider_kuberay.decorators.ray
        import airflow_provider_kuberay.specs, airflow_provider_kuberay.result
        for path in sorted(glob.glob("example_dags/example_*.py")):
            runpy.run_path(path)
        heavy = sorted(m for m in ("ray", "kubernetes", "kubernetes_asyncio", "aiohttp") if m in sys.modules)
        heavy += sorted(m for m in sys.modules if m.startswith(cncf + ".") and m not in core_loaded)
        print(",".join(heavy))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1:] in ([], [""]), result.stdout
