"""
A real Airflow deployment for the deploy tier: Postgres, then ``airflow api-server``, ``scheduler``,
``dag-processor`` and two ``triggerer`` processes (LocalExecutor), each a separate process bound to
127.0.0.1, its output kept in the deployment's temp dir.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from devtools.processes import free_port
from tests.deploy.postgres import LocalPostgres
from tests.deploy.processes import ROOT, ManagedProcess
from tests.deploy.rest import AirflowRest, wait_until

TEST_DAGS = Path(__file__).with_name("dags")
TRIGGERERS = ("triggerer-1", "triggerer-2")
# Each component reports itself under this name (Job.hostname), so a test can tell the triggerers apart
# the way an operator tells machines apart; both resolve to loopback at once (no DNS wait when the API
# server tries the log server of a deferred task's triggerer).
HOSTNAMES = {"triggerer-1": "127.0.0.1", "triggerer-2": "localhost"}
USERNAME = "admin"


class AirflowDeployment:
    """
    Start, restart and stop the deployment's processes; talk to it over REST.

    :param workdir: AIRFLOW_HOME, the logs and Postgres live under it.
    :param startup_timeout: bound on each wait for a component to come up (the machine is shared).
    """

    def __init__(self, workdir: Path, startup_timeout: float = 240.0) -> None:
        self.workdir = workdir
        self.home = workdir / "airflow-home"
        self.logs = workdir / "process-logs"
        self.startup_timeout = startup_timeout
        self.postgres = LocalPostgres(workdir / "postgres")
        self.api_port = free_port()
        self.password = secrets.token_urlsafe(12)
        # Shared by every component: tokens and log-server signatures must verify across processes.
        self.secret_key = secrets.token_urlsafe(32)
        self.jwt_secret = secrets.token_urlsafe(32)
        self.components: dict[str, ManagedProcess] = {}
        self.rest = AirflowRest(self.base_url, USERNAME, self.password)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    # Set-up

    def start(self) -> AirflowDeployment:
        self.home.mkdir(parents=True)
        self.logs.mkdir()
        self.postgres.start()
        self._write_home()
        self._airflow_once("db", "migrate")
        self.components = self._components()
        self.start_component("api-server")
        wait_until(self._logged_in, self.startup_timeout, "the API server to accept a login")
        for name in ("scheduler", "dag-processor", *TRIGGERERS):
            self.start_component(name)
        self.wait_healthy()
        return self

    def _write_home(self) -> None:
        dags = self.home / "dags"
        dags.mkdir()
        (dags / "example_dags").symlink_to(ROOT / "example_dags", target_is_directory=True)
        (dags / "deploy_test_dags").symlink_to(TEST_DAGS, target_is_directory=True)
        self.passwords_file.write_text(json.dumps({USERNAME: self.password}) + "\n")

    @property
    def passwords_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json"

    def environment(self, triggerer: str = TRIGGERERS[0]) -> dict[str, str]:
        """
        What every component shares: one config, set as AIRFLOW__* variables.

        :param triggerer: for a triggerer, which one (the host name it reports).
        """
        settings = {
            "CORE__EXECUTOR": "LocalExecutor",
            "CORE__PARALLELISM": "4",
            "CORE__LOAD_EXAMPLES": "False",
            "CORE__DAGS_FOLDER": str(self.home / "dags"),
            "CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "CORE__HOSTNAME_CALLABLE": "tests.deploy.hostname.from_environment",
            "CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
            "CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
            "DATABASE__SQL_ALCHEMY_CONN": self.postgres.url,
            "API__HOST": "127.0.0.1",
            "API__PORT": str(self.api_port),
            "API__BASE_URL": self.base_url,
            "API__WORKERS": "1",
            "API__SECRET_KEY": self.secret_key,
            "API_AUTH__JWT_SECRET": self.jwt_secret,
            "OPERATORS__DEFAULT_DEFERRABLE": "True",
            "DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        }
        env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
        env.update({f"AIRFLOW__{key}": value for key, value in settings.items()})
        env["AIRFLOW_HOME"] = str(self.home)
        env["DEPLOY_HOSTNAME"] = HOSTNAMES[triggerer]
        env["PYTHONPATH"] = str(ROOT)  # the hostname callable lives in this repo's tests
        return env

    def _components(self) -> dict[str, ManagedProcess]:
        airflow = str(Path(sys.executable).with_name("airflow"))
        commands = {
            "api-server": [airflow, "api-server", "--host", "127.0.0.1", "--port", str(self.api_port), "-w", "1"],
            # No log servers: they listen on every interface (no setting), and every component
            # shares this machine's log folder, which the API server reads.
            "scheduler": [airflow, "scheduler", "--skip-serve-logs"],
            "dag-processor": [airflow, "dag-processor"],
        }
        components = {
            name: ManagedProcess(name, command, self.logs / f"{name}.log", self.environment())
            for name, command in commands.items()
        }
        for name in TRIGGERERS:
            env = self.environment(triggerer=name)
            command = [airflow, "triggerer", "--skip-serve-logs"]
            components[name] = ManagedProcess(name, command, self.logs / f"{name}.log", env)
        return components

    def _airflow_once(self, *args: str) -> None:
        command = [str(Path(sys.executable).with_name("airflow")), *args]
        log = self.logs / f"airflow-{'-'.join(args)}.log"
        with log.open("wb") as out:
            done = subprocess.run(
                command, env=self.environment(), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                timeout=self.startup_timeout * 2, check=False,
            )  # fmt: skip
        assert done.returncode == 0, f"`airflow {' '.join(args)}` exited {done.returncode}:\n{log.read_text()[-5000:]}"

    def _logged_in(self) -> bool:
        return bool(self.rest.login())

    def wait_healthy(self) -> None:
        """Every component up: the health endpoint says so, and both triggerers heartbeat."""

        def healthy() -> bool:
            health = self.rest.health()
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            return all(health[part]["status"] == "healthy" for part in parts) and self.alive_triggerer_hosts() == set(
                HOSTNAMES.values()
            )

        wait_until(healthy, self.startup_timeout, "every component to be healthy", progress=self._status)

    def alive_triggerer_hosts(self) -> set[str]:
        return {str(job["hostname"]) for job in self.rest.alive_triggerers()}

    def _status(self) -> str:
        dead = [name for name, component in self.components.items() if not component.alive()]
        return f"health={self.rest.health()}, triggerers={self.alive_triggerer_hosts()}, exited={dead}"

    # What tests do to it

    def start_component(self, name: str) -> None:
        self.components[name].start()

    def kill_component(self, name: str) -> None:
        self.components[name].kill()

    def stop_component(self, name: str) -> None:
        self.components[name].stop()

    def triggerer_named(self, hostname: str) -> str:
        """The component whose triggerer job reports ``hostname``."""
        return next(name for name, host in HOSTNAMES.items() if host == hostname)

    def pids(self) -> list[int]:
        return [pid for component in self.components.values() for pid in component.pids()] + self.postgres.pids()

    def listeners(self) -> dict[str, str]:
        """Every TCP listener of the deployment's processes: local address -> process name (``ss -ltnp``)."""
        pids = set(self.pids())
        table = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
        found = {}
        for line in table.splitlines():
            owners = {int(pid) for pid in re.findall(r"pid=(\d+),", line)}
            if owners & pids:
                found[line.split()[3]] = line.split('"')[1]
        return found

    # Tear-down

    def stop(self) -> None:
        """Stop every Airflow component at once (each SIGTERM, then SIGKILL), then Postgres."""
        with ThreadPoolExecutor(max_workers=len(self.components) or 1) as pool:
            list(pool.map(ManagedProcess.stop, self.components.values()))
        self.postgres.stop()

    def process_logs(self) -> str:
        """Every component's output (the tail of each), for a failure report."""
        parts = []
        for path in [*sorted(self.logs.glob("*.log")), self.postgres.log_path]:
            if path.exists():
                text = path.read_text(errors="replace")
                parts.append(f"===== {path.name} (last 8000 chars)\n{text[-8000:]}")
        return "\n".join(parts)
