"""The Airflow 3 public REST API (``/api/v2``) as the deploy tier's tests use it: a user's or a CI system's view."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests

T = TypeVar("T")

TERMINAL_RUN_STATES = {"success", "failed"}


class AirflowRest:
    """
    A logged-in client of one API server.

    :param base_url: the API server's root, e.g. ``http://127.0.0.1:8080``.
    :param username: a simple-auth-manager user.
    :param password: its password.
    """

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.session = requests.Session()
        self.token = ""

    def login(self) -> str:
        """Exchange the user's password for a JWT at ``/auth/token``; later calls send it as a bearer token."""
        answer = requests.post(
            f"{self.base_url}/auth/token", json={"username": self.username, "password": self.password}, timeout=30
        )
        answer.raise_for_status()
        self.token = str(answer.json()["access_token"])
        self.session.headers["Authorization"] = f"Bearer {self.token}"
        return self.token

    def request(self, method: str, path: str, expect: int | tuple[int, ...] = 200, **kwargs: Any) -> Any:
        answer = self.session.request(method, f"{self.base_url}/api/v2{path}", timeout=60, **kwargs)
        expected = (expect,) if isinstance(expect, int) else expect
        assert answer.status_code in expected, f"{method} {path}: {answer.status_code} {answer.text[:2000]}"
        return answer.json() if answer.content else None

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    # DAGs and runs

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, parse_timeout: float = 180.0) -> str:
        """
        Start a run now and return its run id: once the DAG processor has parsed the DAG, unpause it
        (as a user does), then trigger it.
        """
        wait_until(lambda: self.get(f"/dags/{dag_id}"), parse_timeout, f"DAG {dag_id} to be parsed")
        self.unpause(dag_id)
        run = self.request("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return str(run["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/dags/{dag_id}/dagRuns/{run_id}"))

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return dict(self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"))

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        found = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti["state"] for ti in found}

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """The whole log of one try, one line per structured message (what the UI renders)."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        content = self.get(path, params={"full_content": "true"}, headers={"Accept": "application/json"})["content"]
        return "\n".join(str(entry.get("event", "")) if isinstance(entry, dict) else str(entry) for entry in content)

    def mark_task(self, dag_id: str, run_id: str, task_id: str, state: str) -> None:
        """Set a task instance's state, as a user does with "Mark as failed/success"."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        self.request("PATCH", path, json={"new_state": state})

    def clear_task(self, dag_id: str, run_id: str, task_id: str) -> None:
        """Clear one task instance (whatever its state), as a user does with "Clear"."""
        body = {"dry_run": False, "dag_run_id": run_id, "task_ids": [task_id], "only_failed": False}
        self.request("POST", f"/dags/{dag_id}/clearTaskInstances", json=body)

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.get(path, params={"deserialize": "true"})["value"]

    def extra_links(self, dag_id: str, run_id: str, task_id: str) -> dict[str, str | None]:
        """The task's extra links by name, as the REST API's links endpoint serves them (``None``: not set)."""
        answer = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/links")
        return dict(answer["extra_links"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        """Poll the run until it is finished; the finished run (its state may be failed)."""
        return wait_until(
            lambda: (run := self.dag_run(dag_id, run_id))["state"] in TERMINAL_RUN_STATES and run,
            timeout,
            f"run {dag_id}/{run_id} to finish",
            progress=lambda: self.task_states(dag_id, run_id),
        )

    def wait_for_task_state(self, dag_id: str, run_id: str, task_id: str, state: str, timeout: float) -> dict[str, Any]:
        return wait_until(
            lambda: (ti := self.task_instance(dag_id, run_id, task_id))["state"] == state and ti,
            timeout,
            f"{dag_id}/{run_id}/{task_id} to be {state}",
            progress=lambda: self.task_states(dag_id, run_id),
        )

    # The deployment

    def health(self) -> dict[str, Any]:
        return dict(self.get("/monitor/health"))

    def alive_triggerers(self) -> list[dict[str, Any]]:
        jobs = self.get("/jobs", params={"job_type": "TriggererJob", "is_alive": "true", "limit": 100})["jobs"]
        return list(jobs)


def wait_until(
    check: Callable[[], T | bool | None], timeout: float, what: str, progress: Callable[[], object] | None = None
) -> T:
    """Call ``check`` until it returns something truthy (returned); fail after ``timeout`` saying ``what``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            found = check()
            if found:
                return found  # type: ignore[return-value]
        except (requests.RequestException, AssertionError, KeyError) as err:  # a restarting server, a 404 yet
            last_error = err
        time.sleep(1.0)
    seen = ""
    if progress is not None:
        try:
            seen = f"; last seen: {progress()}"
        except (requests.RequestException, AssertionError) as err:
            seen = f"; progress unavailable: {err}"
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{seen}; last error: {last_error}")
