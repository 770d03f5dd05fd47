"""
The triggerer that runs a RayJob trigger is SIGKILLed mid-job in the real deployment: the other
triggerer takes the trigger over, the task ends with the job's verdict, and the task log holds every
line of the job once.

The deployment's processes reach the session's Kubernetes harness (KubeRay's real operator) through
a ``kuberay`` connection made over REST. It names the harness's kubeconfig file by path: the
credentials stay in that file and never reach Airflow's database or logs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.deploy.deployment import AirflowDeployment
from tests.deploy.runs import LINES_TASK
from tests.deploy.takeover import Takeover, kill_the_triggers_triggerer
from tests.support.secret_scan import file_places, leaks

if TYPE_CHECKING:
    from tests.support.k8s_harness import K8sCluster

pytestmark = [pytest.mark.deploy, pytest.mark.k8s]

RAYJOB_DAG = "deploy_rayjob_numbered_lines"
CONNECTION = "kuberay_deploy"
TAKEOVER_LINES = 20


@pytest.fixture(scope="module")
def kuberay_deploy_connection(deployment: AirflowDeployment, k8s_cluster: K8sCluster) -> Iterator[str]:
    """A namespace of the harness and the deployment's ``kuberay_deploy`` connection to it; both removed at the end."""
    from kubernetes import client

    if not k8s_cluster.harness:
        pytest.skip("the RayJob's pods stand in for the harness's local Ray head, which reads the job's script here")
    core = client.CoreV1Api(k8s_cluster.api)
    namespace = f"deploy-rayjob-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": namespace}})
    extra = {"kube_config_path": k8s_cluster.kubeconfig, "namespace": namespace, "dashboard_access": "proxy"}
    rest = deployment.rest
    connection = {"connection_id": CONNECTION, "conn_type": "kuberay", "extra": json.dumps(extra)}
    rest.request("POST", "/connections", expect=201, json=connection)
    try:
        yield namespace
    finally:
        rest.request("DELETE", f"/connections/{CONNECTION}", expect=204)
        core.delete_namespace(namespace, propagation_policy="Background")


@pytest.fixture(scope="module")
def rayjob_takeover(
    deployment: AirflowDeployment, kuberay_deploy_connection: str, tmp_path_factory: pytest.TempPathFactory
) -> Takeover:
    """SIGKILL the triggerer that runs the RayJob's trigger mid-job; wait for the run."""
    release = tmp_path_factory.mktemp("rayjob-takeover") / "release"
    return kill_the_triggers_triggerer(deployment, RAYJOB_DAG, TAKEOVER_LINES, release)


def test_killed_triggerers_rayjob_trigger_is_taken_over_and_the_task_ends_correctly(
    deployment: AirflowDeployment, rayjob_takeover: Takeover
) -> None:
    rayjob_takeover.assert_taken_over_and_ended(deployment, {LINES_TASK: "success"})


def test_killed_triggerers_rayjob_lines_appear_once_in_the_task_log(rayjob_takeover: Takeover) -> None:
    rayjob_takeover.assert_every_line_once()


def test_the_harness_credentials_reach_no_file_of_the_deployment(
    deployment: AirflowDeployment, k8s_cluster: K8sCluster, rayjob_takeover: Takeover
) -> None:
    """The connection names the kubeconfig by path: its token is in no log, DAG-run file or connection field."""
    import yaml

    users = yaml.safe_load(Path(k8s_cluster.kubeconfig).read_text())["users"]
    tokens = {f"user {user['name']}'s token": user["user"]["token"] for user in users if user["user"].get("token")}
    assert tokens, "the harness's kubeconfig has no token to look for"
    places = file_places([deployment.home, deployment.logs], since=0)
    places["the connection over REST"] = json.dumps(deployment.rest.get(f"/connections/{CONNECTION}"))
    places["the task log"] = rayjob_takeover.log
    assert not leaks(places, tokens)
