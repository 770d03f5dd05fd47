"""
A triggerer dies mid-job: the deploy tier SIGKILLs the triggerer that runs a deferred task's trigger
and follows the run to its end, for every kind of trigger it tests (Jobs API, RayJob).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from airflow_provider_kuberay.triggers.log_position import POSITION_XCOM_KEY
from tests.deploy.deployment import AirflowDeployment
from tests.deploy.rest import wait_until
from tests.deploy.runs import DEFER_TIMEOUT, LINES_TASK, RUN_TIMEOUT, job_lines, start_deferred_run


@dataclass(frozen=True)
class Takeover:
    """What a test saw when the triggerer running a trigger was SIGKILLed mid-job."""

    dag_id: str
    run_id: str
    lines: int
    state: str
    log: str
    killed_host: str
    trigger_hosts: set[str]
    # Seconds from the trigger of the run to each step: where the test's time goes.
    timings: dict[str, float]

    def assert_taken_over_and_ended(self, deployment: AirflowDeployment, task_states: dict[str, str]) -> None:
        """The other triggerer ran the trigger after the killed one; the run ended with ``task_states``."""
        states = deployment.rest.task_states(self.dag_id, self.run_id)
        assert self.state == "success", states
        assert states == task_states
        assert self.killed_host in self.trigger_hosts
        assert len(self.trigger_hosts) == 2, self.trigger_hosts
        missing = [line for line in job_lines(self.lines) if line not in self.log]
        assert not missing, f"job lines missing from the task log: {missing}\n{self.log}"
        assert "deploy-job done" in self.log

    def assert_every_line_once(self) -> None:
        entries = self.log.splitlines()
        counts = {line: sum(line in entry for entry in entries) for line in job_lines(self.lines)}
        twice = {line: count for line, count in counts.items() if count > 1}
        assert not twice, f"job lines forwarded more than once: {twice}\n{self.log}"


def kill_the_triggers_triggerer(deployment: AirflowDeployment, dag_id: str, lines: int, release_file: Path) -> Takeover:
    """
    Run ``dag_id`` (a numbered-lines DAG) and SIGKILL the triggerer that runs its task's trigger while
    the job is mid-way; wait for the run, then start that triggerer again.

    The job prints half its lines, then is quiet until ``release_file`` exists. The kill comes once
    the task log holds that half and the position the trigger recorded has stopped moving: a kill
    within the round trip of a position write (a fraction of a second after a line) would repeat
    that line by design (see ``LogPosition``), and this test is about the position surviving the
    takeover, not about that window. The other half is printed while no triggerer runs the trigger.
    """
    rest = deployment.rest
    started = time.monotonic()
    timings: dict[str, float] = {}

    def reached(step: str) -> None:
        timings[step] = round(time.monotonic() - started, 1)

    half = lines // 2
    run_id = start_deferred_run(
        deployment, lines=lines, interval=0.5, release_file=release_file, dag_id=dag_id, release_after=half
    )
    wait_until(
        lambda: job_lines(lines)[half - 1] in rest.task_log(dag_id, run_id, LINES_TASK),
        DEFER_TIMEOUT,
        "the first half of the job's lines in the task log",
    )
    _wait_for_a_settled_position(deployment, dag_id, run_id)
    reached("deferred, half the lines logged")
    ti = rest.task_instance(dag_id, run_id, LINES_TASK)
    assert ti["triggerer_job"], ti
    killed_host = str(ti["triggerer_job"]["hostname"])
    killed = deployment.triggerer_named(killed_host)
    deployment.kill_component(killed)
    release_file.touch()
    restarted = False
    try:
        wait_until(
            lambda: _taken_over(deployment, dag_id, run_id, killed_host),
            RUN_TIMEOUT,
            "the other triggerer to take the trigger over",
        )
        # Back at once: it starts while the run ends (saving its start-up), and the trigger is no longer free.
        reached("taken over")
        deployment.start_component(killed)
        restarted = True
        finished = rest.wait_for_run(dag_id, run_id, RUN_TIMEOUT)
        reached("run ended")
        log = rest.task_log(dag_id, run_id, LINES_TASK)
    finally:
        if not restarted:
            deployment.start_component(killed)
        deployment.wait_healthy()
    reached("killed triggerer back")
    # Each triggerer that ran the trigger wrote its own file (`...log.trigger.<job id>.log`).
    job_ids = {int(found) for found in re.findall(r"\.log\.trigger\.(\d+)\.log", log)}
    jobs = rest.get("/jobs", params={"job_type": "TriggererJob", "limit": 100})["jobs"]
    hosts = {str(job["hostname"]) for job in jobs if job["id"] in job_ids}
    print(f"\n{dag_id}: triggerer takeover, seconds since the run was triggered: {timings}")
    return Takeover(dag_id, run_id, lines, str(finished["state"]), log, killed_host, hosts, timings)


def _taken_over(deployment: AirflowDeployment, dag_id: str, run_id: str, killed_host: str) -> bool:
    """Another triggerer holds the task's trigger, or it fired already (only another one could have)."""
    ti = deployment.rest.task_instance(dag_id, run_id, LINES_TASK)
    if ti["state"] != "deferred":
        return True
    holder = ti.get("triggerer_job") or {}
    return bool(holder) and str(holder["hostname"]) != killed_host


def _wait_for_a_settled_position(deployment: AirflowDeployment, dag_id: str, run_id: str) -> None:
    """The log position the trigger records in the task's XCom is set and has not moved for 3 s."""
    seen: list[object] = []

    def settled() -> bool:
        seen.append(deployment.rest.xcom(dag_id, run_id, LINES_TASK, POSITION_XCOM_KEY))
        return len(seen) > 3 and bool(seen[-1]) and seen[-1] == seen[-4]

    wait_until(settled, DEFER_TIMEOUT, "the trigger's recorded log position to settle")
