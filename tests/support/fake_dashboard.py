"""
A fake Ray dashboard on 127.0.0.1 for the unit tier: the HTTP boundary is real (sockets, status
codes, websockets), the Ray behind it is a small in-memory job table with scriptable faults.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeJob:
    submission_id: str
    entrypoint: str
    status: str = "PENDING"
    message: str = "Job has not started yet."
    logs: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    runtime_env: dict[str, Any] | None = None
    error_type: str | None = None
    # Set (as newer Ray does) once the driver runs: the provider then follows the state API's stream.
    driver_node_id: str | None = None
    # The lines of Ray's supervisor log of the job (jobs/supervisor-<id>.log); None: no such file, as
    # in a Ray that does not write it (the state API then answers 500).
    supervisor_log: list[str] | None = None

    def end(self, status: str, message: str) -> None:
        """End the job as Ray's supervisor does: a line in its log, then the terminal status."""
        if self.supervisor_log is not None:
            self.supervisor_log.append(f"INFO job_supervisor.py -- Job {self.submission_id} ended: {status}\n")
        self.status, self.message = status, message

    def details(self) -> dict[str, Any]:
        return {
            "type": "SUBMISSION",
            "job_id": None,
            "submission_id": self.submission_id,
            "status": self.status,
            "entrypoint": self.entrypoint,
            "message": self.message,
            "error_type": self.error_type,
            "metadata": self.metadata or None,
            "runtime_env": self.runtime_env,
            "driver_node_id": self.driver_node_id,
        }


class FakeDashboard:
    """
    Serve the Jobs/Serve REST routes the provider uses. ``fail_next(path_prefix, status, times)``
    scripts errors (0: the connection is dropped); ``requests`` records every call as ``(method, path)``
    (a log stream of a file named by ``filename``: ``path?filename=...``).
    """

    def __init__(self) -> None:
        self.jobs: dict[str, FakeJob] = {}
        self.requests: list[tuple[str, str]] = []
        self.packages: dict[str, bytes] = {}
        self.serve_config: dict[str, Any] = {"applications": {}}
        self.duplicate_status = 500
        self.ray_version = "2.60.0-fake"  # what /api/version reports
        self.log_chunks: dict[str, list[str]] = {}
        # submission id -> number of chunks after which the next log stream connection is cut (once).
        self.cut_stream_after: dict[str, int] = {}
        # Per log-tail connection, in order: ("drop", n) cuts the socket after n chunks, ("close", n)
        # closes the websocket cleanly after n chunks, ("refuse", status) refuses the handshake.
        self.tail_plan: list[tuple[str, int]] = []
        self.tail_connections = 0
        # submission id -> the most chunks of its log one stream connection delivered (tail or state API).
        self.delivered: dict[str, int] = {}
        self._faults: list[list[Any]] = []
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- scripting ------------------------------------------------------------------------------
    def fail_next(self, path_prefix: str, status: int, times: int = 1, *, retry_after: str | None = None) -> None:
        """The next ``times`` requests under ``path_prefix`` get ``status`` (with a ``Retry-After`` when given)."""
        self._faults.append([path_prefix, status, times, retry_after])

    def add_job(self, submission_id: str, status: str = "RUNNING", **kwargs: Any) -> FakeJob:
        job = FakeJob(submission_id=submission_id, entrypoint=kwargs.pop("entrypoint", "python x.py"), status=status)
        for key, value in kwargs.items():
            setattr(job, key, value)
        self.jobs[submission_id] = job
        return job

    def calls(self, method: str) -> list[str]:
        return [path for m, path in self.requests if m == method]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- server ---------------------------------------------------------------------------------
    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._record_and_fault])
        app.router.add_get("/api/version", self._version)
        app.router.add_post("/api/jobs/", self._submit)
        app.router.add_get("/api/jobs/", self._list)
        app.router.add_get("/api/jobs/{id}", self._info)
        app.router.add_delete("/api/jobs/{id}", self._delete)
        app.router.add_post("/api/jobs/{id}/stop", self._stop)
        app.router.add_get("/api/jobs/{id}/logs", self._logs)
        app.router.add_get("/api/jobs/{id}/logs/tail", self._tail)
        app.router.add_get("/api/v0/logs/stream", self._stream)
        app.router.add_get("/api/packages/{protocol}/{name}", self._package_get)
        app.router.add_put("/api/packages/{protocol}/{name}", self._package_put)
        app.router.add_get("/api/serve/applications/", self._serve_get)
        app.router.add_put("/api/serve/applications/", self._serve_put)
        app.router.add_delete("/api/serve/applications/", self._serve_delete)
        return app

    @web.middleware
    async def _record_and_fault(self, request: web.Request, handler: Any) -> web.StreamResponse:
        filename = request.query.get("filename")
        self.requests.append((request.method, request.path + (f"?filename={filename}" if filename else "")))
        for fault in self._faults:
            prefix, status, times, retry_after = fault
            if times > 0 and request.path.startswith(prefix):
                fault[2] -= 1
                if status == 0:
                    assert request.transport is not None
                    request.transport.close()  # a reset: no answer at all
                    raise asyncio.CancelledError
                headers = {"Retry-After": retry_after} if retry_after is not None else None
                return web.Response(status=status, text=f"scripted failure {status}", headers=headers)
        return await handler(request)

    def start(self) -> FakeDashboard:
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)

            async def boot() -> None:
                self._runner = web.AppRunner(self._app())
                await self._runner.setup()
                site = web.TCPSite(self._runner, "127.0.0.1", 0)
                await site.start()
                self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
                ready.set()

            self._loop.run_until_complete(boot())
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # -- handlers -------------------------------------------------------------------------------
    def _job(self, request: web.Request) -> FakeJob:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            raise web.HTTPNotFound(text=f"Job {request.match_info['id']} does not exist")
        return job

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "4", "ray_version": self.ray_version})

    async def _submit(self, request: web.Request) -> web.Response:
        body = await request.json()
        submission_id = body["submission_id"]
        if submission_id in self.jobs:
            return web.Response(
                status=self.duplicate_status,
                text=f"Traceback...\nValueError: Job with submission_id {submission_id} already exists. "
                "Please use a different submission_id.",
            )
        self.jobs[submission_id] = FakeJob(
            submission_id=submission_id,
            entrypoint=body["entrypoint"],
            metadata=body.get("metadata") or {},
            runtime_env=body.get("runtime_env"),
        )
        self.last_submission = body
        return web.json_response({"job_id": None, "submission_id": submission_id})

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response([job.details() for job in self.jobs.values()])

    async def _info(self, request: web.Request) -> web.Response:
        return web.json_response(self._job(request).details())

    async def _delete(self, request: web.Request) -> web.Response:
        job = self._job(request)
        del self.jobs[job.submission_id]
        return web.json_response({"deleted": True})

    async def _stop(self, request: web.Request) -> web.Response:
        job = self._job(request)
        was_running = job.status in ("PENDING", "RUNNING")
        if was_running:
            job.status, job.message = "STOPPED", "Job was intentionally stopped."
        return web.json_response({"stopped": was_running})

    async def _logs(self, request: web.Request) -> web.Response:
        return web.json_response({"logs": self._job(request).logs})

    async def _tail(self, request: web.Request) -> web.StreamResponse:
        job = self._job(request)
        self.tail_connections += 1
        action, amount = self.tail_plan.pop(0) if self.tail_plan else ("all", -1)
        if action == "refuse":
            return web.Response(status=amount, text=f"scripted refusal {amount}")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        # Like Ray: every connection replays the log from its start.
        for index, chunk in enumerate(self.log_chunks.get(job.submission_id, [job.logs] if job.logs else [])):
            if index == amount and action == "drop":
                assert request.transport is not None
                request.transport.abort()  # no close frame: the peer just vanishes
                return ws
            if index == amount and action == "close":
                break
            await ws.send_str(chunk)
            self._count_delivered(job.submission_id, index + 1)
            await asyncio.sleep(0.01)
        await ws.close()
        return ws

    def _count_delivered(self, submission_id: str, chunks: int) -> None:
        self.delivered[submission_id] = max(chunks, self.delivered.get(submission_id, 0))

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        """Ray's state API log stream: replays the driver log, then keeps following it until the client leaves."""
        if "filename" in request.query:
            return await self._stream_file(request, request.query["filename"])
        job = self.jobs.get(request.query.get("submission_id", ""))
        if job is None or job.driver_node_id is None or request.query.get("node_id") != job.driver_node_id:
            return web.Response(status=500, text="500 Internal Server Error\n\nServer got itself in trouble")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        cut_after = self.cut_stream_after.pop(job.submission_id, None)
        sent = 0
        while request.transport is not None and not request.transport.is_closing():  # until the client leaves
            chunks = self.log_chunks.get(job.submission_id, [job.logs] if job.logs else [])
            while sent < len(chunks):
                if sent == cut_after:
                    assert request.transport is not None
                    request.transport.close()  # the connection breaks mid-stream
                    return response
                await response.write(chunks[sent].encode())
                sent += 1
                self._count_delivered(job.submission_id, sent)
            await asyncio.sleep(0.01)
        return response

    async def _stream_file(self, request: web.Request, filename: str) -> web.StreamResponse:
        """A log file by name; only a job's supervisor log exists here: its last ``lines``, then what follows."""
        job = next((j for j in self.jobs.values() if filename == f"jobs/supervisor-{j.submission_id}.log"), None)
        if job is None or job.supervisor_log is None or request.query.get("node_id") != job.driver_node_id:
            return web.Response(status=500, text=f"A file is not found at: /tmp/ray/session/logs/{filename}")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        lines = job.supervisor_log
        tail = int(request.query.get("lines", "1000"))
        sent = 0 if tail < 0 else max(0, len(lines) - tail)
        while request.transport is not None and not request.transport.is_closing():
            if sent < len(lines):
                await response.write("".join(lines[sent:]).encode())
                sent = len(lines)
            await asyncio.sleep(0.01)
        return response

    async def _package_get(self, request: web.Request) -> web.Response:
        uri = f"{request.match_info['protocol']}://{request.match_info['name']}"
        return web.Response(status=200 if uri in self.packages else 404)

    async def _package_put(self, request: web.Request) -> web.Response:
        uri = f"{request.match_info['protocol']}://{request.match_info['name']}"
        self.packages[uri] = await request.read()
        return web.Response()

    async def _serve_get(self, request: web.Request) -> web.Response:
        return web.json_response(self.serve_config)

    async def _serve_put(self, request: web.Request) -> web.Response:
        self.serve_config = await request.json()
        return web.Response()

    async def _serve_delete(self, request: web.Request) -> web.Response:
        self.serve_config = {"applications": {}}
        return web.Response()


def running_fake_dashboard() -> Iterator[FakeDashboard]:
    """Generator body for a pytest fixture."""
    fake = FakeDashboard().start()
    try:
        yield fake
    finally:
        fake.stop()
