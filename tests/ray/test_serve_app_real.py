"""The RayService example's Serve app deploys, answers, takes a config upgrade in place and goes, on real Ray."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_kuberay.hooks.ray_dashboard import RayDashboardHook

pytestmark = pytest.mark.ray

APP_DIR = Path(__file__).resolve().parents[2] / "example_dags" / "serve_apps"


def _config(runtime_env: dict[str, Any], port: int, **user_config: Any) -> dict[str, Any]:
    # The same application entry the example DAG puts in serveConfigV2.
    return {
        "http_options": {"host": "127.0.0.1", "port": port},
        "applications": [
            {
                "name": "greeter",
                "route_prefix": "/greet",
                "import_path": "greeter:app",
                "runtime_env": runtime_env,
                "deployments": [{"name": "Greeter", "num_replicas": 1, "user_config": user_config}],
            }
        ],
    }


def _wait_running(hook: RayDashboardHook, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        apps = hook.get_serve_applications().get("applications", {})
        app = apps.get("greeter", {})
        if app.get("status") == "RUNNING":
            return dict(app)
        assert app.get("status") != "DEPLOY_FAILED", app.get("message")
        assert time.monotonic() < deadline, apps
        time.sleep(0.5)


def _ask(port: int, name: str, expect_version: int, timeout: float = 60) -> dict[str, Any]:
    import requests

    deadline = time.monotonic() + timeout
    while True:
        try:
            reply = requests.get(f"http://127.0.0.1:{port}/greet", params={"name": name}, timeout=10)
            if reply.ok and reply.json().get("model_version") == expect_version:
                return dict(reply.json())
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, f"no answer of model v{expect_version} on port {port}"
        time.sleep(0.3)


def test_example_serve_app_deploys_answers_upgrades_and_goes(ray_head: Any) -> None:
    from devtools.local_ray import free_port

    hook = RayDashboardHook(None, dashboard_url=ray_head.dashboard_url)
    runtime_env = hook.upload_local_packages({"working_dir": str(APP_DIR)})
    # Serve's HTTP options are fixed once it runs on this head: keep the port it already has.
    running = hook.get_serve_applications()
    port = (running.get("http_options") or {}).get("port") if running.get("applications") else None
    port = port or free_port()

    hook.deploy_serve_applications(_config(runtime_env, port, greeting="Hello", model_version=1))
    _wait_running(hook)
    assert _ask(port, "Ada", 1) == {"message": "Hello, Ada!", "model_version": 1}

    # A user_config change: the replica is reconfigured in place, as a Serve-config-only RayService upgrade.
    hook.deploy_serve_applications(_config(runtime_env, port, greeting="Bonjour", model_version=2))
    assert _ask(port, "Ada", 2) == {"message": "Bonjour, Ada!", "model_version": 2}
    assert _wait_running(hook)["deployments"]["Greeter"]["status"] == "HEALTHY"
    assert not ray_head.non_loopback_listeners()

    hook.delete_serve_applications()
    deadline = time.monotonic() + 60
    while hook.get_serve_applications().get("applications"):
        assert time.monotonic() < deadline
        time.sleep(0.5)
