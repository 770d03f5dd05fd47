"""Runs the deploy tier's tests share (each is made once per session, over REST)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.deploy.deployment import AirflowDeployment
from tests.deploy.rest import wait_until

EXAMPLE_DAG = "example_ray_submit_job"
EXAMPLE_TASK = "fan_out_and_gather"
LINES_DAG = "deploy_numbered_lines"
LINES_TASK = "numbered_lines"
RERUN_DAG = "deploy_numbered_lines_rerun"
RUN_TIMEOUT = 300.0
DEFER_TIMEOUT = 180.0


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


def start_deferred_run(
    deployment: AirflowDeployment,
    lines: int,
    interval: float,
    release_file: Path | None = None,
    dag_id: str = LINES_DAG,
    release_after: int = -1,
) -> str:
    """
    Trigger a run of a numbered-lines DAG and return once its task is deferred and the trigger has
    forwarded the job's first lines: the trigger runs, and the job is mid-way (it ends only once
    ``release_file`` exists; with ``release_after``, it prints no more lines until then).
    """
    rest = deployment.rest
    conf: dict[str, object] = {"lines": lines, "interval": interval, "release_after": release_after}
    conf["release_file"] = str(release_file or "")
    run_id = rest.trigger(dag_id, conf)
    rest.wait_for_task_state(dag_id, run_id, LINES_TASK, "deferred", DEFER_TIMEOUT)
    wait_until(
        lambda: "deploy-line 003/" in rest.task_log(dag_id, run_id, LINES_TASK),
        DEFER_TIMEOUT,
        "the job's first lines in the task log",
    )
    return run_id
