"""
A throwaway PostgreSQL server for the deploy tier: Debian's ``postgresql`` binaries, a cluster
initdb'd in a temp dir, listening on 127.0.0.1 and a unix socket in that dir only.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from devtools.processes import free_port
from tests.deploy.processes import ManagedProcess

# initdb and postgres refuse to run as root; Debian's package creates this user.
_SERVICE_USER = "postgres"
DATABASE = "airflow"


class PostgresUnavailable(RuntimeError):
    """The machine lacks what the tier needs to run Postgres (the message says what)."""


def postgres_bin_dir() -> Path:
    """The newest installed Debian PostgreSQL's bin dir (``/usr/lib/postgresql/N/bin``)."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3].split(".")[0])
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise PostgresUnavailable("no initdb: install Debian's `postgresql` package (`.ci/run` does)")


class LocalPostgres:
    """
    Initialise and run a private PostgreSQL cluster; stop it by PID.

    :param workdir: folder for the cluster's data, socket and log (made traversable for the
        service user when running as root).
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.bin_dir = postgres_bin_dir()
        self.port = free_port()
        self.data_dir = workdir / "data"
        self.socket_dir = workdir / "socket"
        self.log_path = workdir / "postgres.log"
        self._user = _SERVICE_USER if os.geteuid() == 0 else None
        self._process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``airflow`` database (trust auth, loopback only)."""
        return f"postgresql+psycopg2://airflow@127.0.0.1:{self.port}/{DATABASE}"

    def start(self, timeout: float = 120.0) -> LocalPostgres:
        self._prepare_dirs()
        initdb = [
            str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "airflow",
            "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync",
        ]  # fmt: skip
        done = subprocess.run(initdb, user=self._user, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise PostgresUnavailable(f"initdb failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        server = [
            str(self.bin_dir / "postgres"), "-D", str(self.data_dir),
            "-h", "127.0.0.1", "-p", str(self.port), "-k", str(self.socket_dir),
            # A test database: durability buys nothing, and the machine is shared.
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=200",
        ]  # fmt: skip
        self._process = ManagedProcess("postgres", server, self.log_path, env=dict(os.environ), user=self._user)
        self._process.start()
        self._wait_ready(timeout)
        return self

    def _prepare_dirs(self) -> None:
        self.socket_dir.mkdir(parents=True)
        if self._user is None:
            return
        entry = pwd.getpwnam(self._user)
        # The service user must reach its data dir inside our root-owned, 0700 temp dirs.
        for ours in (self.workdir.parent, self.workdir):
            ours.chmod(ours.stat().st_mode | 0o711)
        self.data_dir.mkdir()
        for path in (self.data_dir, self.socket_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        self.log_path.touch()
        os.chown(self.log_path, entry.pw_uid, entry.pw_gid)

    def _wait_ready(self, timeout: float) -> None:
        import psycopg2

        deadline = time.monotonic() + timeout
        while True:
            assert self._process is not None
            if not self._process.alive():
                raise PostgresUnavailable(f"postgres exited; its log:\n{self.log_path.read_text()}")
            try:
                connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="airflow", dbname="postgres")
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"postgres did not accept connections in {timeout:.0f}s") from None
                time.sleep(0.3)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {DATABASE}")
        connection.close()

    def pids(self) -> list[int]:
        return [] if self._process is None else self._process.pids()

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None
