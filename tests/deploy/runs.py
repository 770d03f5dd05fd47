"""Runs the deploy tier's tests share (each is made once per session, over REST)."""

from __future__ import annotations

from dataclasses import dataclass

from tests.deploy.deployment import AirflowDeployment

EXAMPLE_DAG = "example_ray_submit_job"
EXAMPLE_TASK = "fan_out_and_gather"
LINES_DAG = "deploy_numbered_lines"
LINES_TASK = "numbered_lines"
RUN_TIMEOUT = 300.0


@dataclass(frozen=True)
class FinishedRun:
    """A DAG run the tier started and waited for."""

    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str | None]


def run_to_end(deployment: AirflowDeployment, dag_id: str, conf: dict[str, object] | None = None) -> FinishedRun:
    rest = deployment.rest
    run_id = rest.trigger(dag_id, conf)
    finished = rest.wait_for_run(dag_id, run_id, RUN_TIMEOUT)
    return FinishedRun(dag_id, run_id, str(finished["state"]), rest.task_states(dag_id, run_id))


def job_lines(count: int) -> list[str]:
    """The lines ``ray_scripts/numbered_lines.py`` prints for ``--lines count``."""
    return [f"deploy-line {number:03d}/{count:03d}" for number in range(count)]
