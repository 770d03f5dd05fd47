"""
A Ray Serve app as a RayService: deploy it, query it, upgrade its Serve config (in place, no new
cluster), query it again, then delete it.

The app is ``serve_apps/greeter.py``; its ``greeting`` and ``model_version`` come from the
deployment's ``user_config``, so the upgrade shows in the answers. The Ray cluster must be able to
import ``greeter``: put it in the image, or set ``KUBERAY_EXAMPLE_GREETER_WORKING_DIR`` to a
``working_dir`` URI the cluster can fetch (e.g. a zip of ``serve_apps/`` on S3/GCS/HTTPS).

Needs a ``kuberay`` connection named ``kuberay_default`` to a Kubernetes cluster that runs the
KubeRay operator. The query task reaches the serve service directly inside a pod, else through the
API server's service proxy.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_kuberay.operators import KubeRayDeleteServiceOperator, KubeRayDeployServiceOperator
from airflow_provider_kuberay.specs import ClusterSpec, HeadGroup, Resources, ServiceSpec, WorkerGroup

SERVICE_NAME = "greeter"
GREETER_WORKING_DIR = os.environ.get("KUBERAY_EXAMPLE_GREETER_WORKING_DIR", "")


def greeter_config(greeting: str, model_version: int) -> dict[str, Any]:
    """The Serve config (``serveConfigV2``) of the greeter app at one version."""
    app: dict[str, Any] = {
        "name": "greeter",
        "route_prefix": "/greet",
        "import_path": "greeter:app",
        "deployments": [
            {
                "name": "Greeter",
                "num_replicas": 2,
                "user_config": {"greeting": greeting, "model_version": model_version},
            }
        ],
    }
    if GREETER_WORKING_DIR:
        app["runtime_env"] = {"working_dir": GREETER_WORKING_DIR}
    return {"applications": [app]}


SERVICE = ServiceSpec(
    serve_config=greeter_config("Hello", 1),
    cluster=ClusterSpec(
        image="rayproject/ray:2.52.0",
        ray_version="2.52.0",
        head=HeadGroup(resources=Resources(cpu=1, memory="4Gi")),
        worker_groups=[
            WorkerGroup("cpu", replicas=1, min_replicas=1, max_replicas=3, resources=Resources(cpu=1, memory="2Gi"))
        ],
    ),
    # Blue/green for cluster-spec changes; Serve-config changes are always applied in place.
    upgrade_strategy="NewCluster",
)


@task
def query(service: dict[str, Any], name: str) -> dict[str, Any]:
    """Ask the greeter through the serve service and return its answer."""
    import json

    from airflow_provider_kuberay.hooks.dashboard_access import running_in_pod
    from airflow_provider_kuberay.hooks.kuberay import KubeRayHook

    if running_in_pod():
        import requests

        reply = requests.get(f"{service['serve_endpoint']}/greet", params={"name": name}, timeout=30)
        reply.raise_for_status()
        answer = dict(reply.json())
    else:
        # Outside the cluster: the API server's service proxy, with the connection's credentials.
        api = KubeRayHook("kuberay_default").get_conn()
        path = (
            f"/api/v1/namespaces/{service['namespace']}/services/{service['service_name']}-serve-svc:serve/proxy/greet"
        )
        response = api.call_api(
            path,
            "GET",
            query_params=[("name", name)],
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=30,
        )
        # Without preloading, the client returns the raw response (older clients: inside a tuple).
        response = response[0] if isinstance(response, tuple) else response
        answer = dict(json.loads(response.data))
    print(f"model v{answer.get('model_version')} answered: {answer.get('message')}")
    return answer


with DAG(
    dag_id="example_kuberay_service",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["kuberay", "example", "serve"],
):
    deploy = KubeRayDeployServiceOperator(
        task_id="deploy", service=SERVICE, service_name=SERVICE_NAME, kuberay_conn_id="kuberay_default"
    )
    upgrade = KubeRayDeployServiceOperator(
        task_id="upgrade_config",
        service=SERVICE,
        service_name=SERVICE_NAME,
        serve_config=greeter_config("Bonjour", 2),
        # Off by default: on failure KubeRay keeps the old version serving either way.
        rollback_on_failure=True,
    )
    # A teardown: the service is deleted even when a query fails (and the run still fails).
    delete = KubeRayDeleteServiceOperator(task_id="delete", service_name=SERVICE_NAME)

    first = query.override(task_id="query_v1")(deploy.output, "Ada")
    second = query.override(task_id="query_v2")(upgrade.output, "Ada")
    first >> upgrade
    second >> delete.as_teardown(setups=deploy)
