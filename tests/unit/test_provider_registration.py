"""Airflow's ProvidersManager sees the provider, its connection types and their form fields."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from airflow_provider_kuberay.get_provider_info import get_provider_info


def test_provider_info_matches_airflows_schema() -> None:
    import json
    from importlib.resources import files

    import jsonschema

    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


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
    (``airflow.exceptions`` re-exports its exceptions), so what is forbidden is every module of it
    beyond what a bare ``from airflow.sdk import BaseOperator`` already loads.
    """
    code = textwrap.dedent(
        """
        import glob, sys, runpy
        from airflow.sdk import BaseOperator
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
