"""Asynchronous client of the Ray dashboard's Jobs and Serve REST API (for triggers)."""

from __future__ import annotations

import asyncio
import codecs
import json
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

# Imported with the module, not inside coroutines: an import would block the triggerer's loop.
import aiohttp

from airflow_provider_kuberay.exceptions import RayDashboardError
from airflow_provider_kuberay.hooks import ray_jobs_api as api
from airflow_provider_kuberay.hooks.ray_dashboard_base import RayDashboardHookBase
from airflow_provider_kuberay.hooks.retry import Answer, NoAnswer, Outcome, one_request_per_attempt, retry_after_seconds
from airflow_provider_kuberay.hooks.steps import run_async, send

if TYPE_CHECKING:
    from airflow_provider_kuberay.hooks.dashboard_endpoint import DashboardEndpoint

# While a job waits for its driver, how often to look again (growing to the cap).
_DRIVER_POLL_FIRST, _DRIVER_POLL_MAX = 0.1, 1.0


def _ssl_setting(endpoint: DashboardEndpoint) -> ssl.SSLContext | bool:
    if endpoint.client_cert is None and not isinstance(endpoint.verify, str):
        return endpoint.verify  # aiohttp's own cached default context, or no verification
    context = ssl.create_default_context(cafile=endpoint.verify if isinstance(endpoint.verify, str) else None)
    if endpoint.verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if endpoint.client_cert is not None:
        context.load_cert_chain(*endpoint.client_cert)
    return context


class RayDashboardAsyncHook(RayDashboardHookBase):
    """
    Talk to a Ray dashboard from an event loop; never blocks it.

    Use it as an async context manager so its HTTP session is closed::

        async with RayDashboardAsyncHook(ray_dashboard_conn_id="ray") as hook:
            info = await hook.get_job_info("my-submission")

    Parameters are those of :class:`RayDashboardHookBase`.
    """

    _session: aiohttp.ClientSession | None = None
    # Whether the dashboard streams job logs as plain text (Ray 2.40+); read on first need.
    _plain_log_stream: bool | None = None
    # Each job's driver-node lookup, shared by its log copy and its end watch (one poll while PENDING).
    _driver_nodes: dict[str, asyncio.Future[str | None]] | None = None

    async def __aenter__(self) -> RayDashboardAsyncHook:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session, if one was opened, and end lookups nobody waits for any more."""
        for lookup in (self._driver_nodes or {}).values():
            lookup.cancel()
        self._driver_nodes = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _client(self) -> tuple[aiohttp.ClientSession, DashboardEndpoint]:
        endpoint = await self.aendpoint()
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=dict(endpoint.headers),
                timeout=aiohttp.ClientTimeout(total=endpoint.timeout),
                connector=aiohttp.TCPConnector(ssl=_ssl_setting(endpoint)),
            )
            one_request_per_attempt(self._session)
        return self._session, endpoint

    # -- the steps of hooks.steps.send, performed with aiohttp ----------------------------------
    async def _send_once(self, call: api.DashboardCall) -> Outcome:
        session, endpoint = await self._client()
        request = call.request
        try:
            async with session.request(
                request.method, endpoint.join(request.path), json=request.json, data=request.data
            ) as response:
                text = await response.text()
                return Answer(response.status, text, text, retry_after_seconds(response.headers.get("Retry-After")))
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as err:
            return NoAnswer(err)

    async def _pause(self, seconds: float, why: str) -> None:
        self.log.warning("%s", why)
        await asyncio.sleep(seconds)

    async def _call(self, request: api.ApiRequest) -> Any:
        _, endpoint = await self._client()
        text = await run_async(send(api.DashboardCall(request, endpoint.url), self.retry_policy), self)
        return json.loads(text) if text.strip() else None

    async def submit_job(self, *, entrypoint: str, submission_id: str, **options: Any) -> str:
        """Submit a job; see :func:`ray_jobs_api.submit_job` for the options. Returns its submission id."""
        answer = await self._call(api.submit_job(entrypoint=entrypoint, submission_id=submission_id, **options))
        return str(answer["submission_id"])

    async def get_job_info(self, submission_id: str) -> dict[str, Any]:
        """Return the job's details document (status, message, timestamps, metadata...)."""
        return dict(await self._call(api.job_info(submission_id)))

    async def get_job_status(self, submission_id: str) -> str:
        """Return the job's status string (PENDING, RUNNING, STOPPED, SUCCEEDED, FAILED)."""
        return str((await self.get_job_info(submission_id))["status"])

    async def get_job_logs(self, submission_id: str) -> str:
        """Return the whole log of the job so far."""
        return str((await self._call(api.job_logs(submission_id)))["logs"])

    async def stop_job(self, submission_id: str) -> bool:
        """Ask Ray to stop the job; returns whether it was running."""
        return bool((await self._call(api.stop_job(submission_id)))["stopped"])

    async def delete_job(self, submission_id: str) -> bool:
        """Delete a terminal job's record and logs."""
        return bool((await self._call(api.delete_job(submission_id)))["deleted"])

    async def list_jobs(self) -> list[dict[str, Any]]:
        """Return the details of every job the cluster knows."""
        return list(await self._call(api.list_jobs()))

    async def get_serve_applications(self) -> dict[str, Any]:
        """Return the Serve REST API's view of the deployed applications."""
        return dict(await self._call(api.serve_applications()))

    async def deploy_serve_applications(self, config: Mapping[str, Any]) -> None:
        """Deploy a Serve config (declarative: applications not in it are removed)."""
        await self._call(api.deploy_serve_applications(config))

    async def delete_serve_applications(self) -> None:
        """Shut down every Serve application."""
        await self._call(api.delete_serve_applications())

    async def follow_job_log(self, submission_id: str, *, skip: int = 0) -> AsyncGenerator[str, None]:
        """
        Yield the job's log as Ray writes it, less its first ``skip`` characters.

        Ray's log streaming endpoint delivers a line about 0.1 s after the job prints it and keeps
        the stream open after the job ends: the caller stops reading when the job is terminal.
        Before the job's driver starts there is nothing to follow yet: this waits for it, and
        returns at once if the job ends first. A Ray without that endpoint, or before 2.40 (its stream
        mixes status bytes into the log), is followed through the Jobs API's log tail instead (up to a
        second behind; it ends with the job).

        :param submission_id: the job's submission id.
        :param skip: characters of the log already read (before a connection broke): not yielded again.
        """
        driver_node_id = await self._driver_node_id(submission_id)
        if driver_node_id is None or not await self._serves_plain_log_stream():
            chunks = self.tail_job_logs(submission_id)
        else:
            chunks = self._stream_driver_log(submission_id, driver_node_id)
        async for chunk in _without_prefix(chunks, skip):
            yield chunk

    async def _serves_plain_log_stream(self) -> bool:
        # Asked once per hook: the job log's stream and the end watch both need it, at every (re)open.
        if self._plain_log_stream is None:
            version = str((await self._call(api.version())).get("ray_version", ""))
            self._plain_log_stream = api.serves_plain_log_stream(version)
        return self._plain_log_stream

    async def _driver_node_id(self, submission_id: str) -> str | None:
        """
        The node of the job's driver; ``None`` when Ray does not say (older Ray, or a job that ended
        unstarted). Callers on one hook share one lookup; a failed one is tried anew by the next caller.
        """
        if self._driver_nodes is None:
            self._driver_nodes = {}
        lookup = self._driver_nodes.get(submission_id)
        if lookup is None or (lookup.done() and (lookup.cancelled() or lookup.exception() is not None)):
            lookup = asyncio.ensure_future(self._wait_for_driver_node(submission_id))
            self._driver_nodes[submission_id] = lookup
        # Shielded: one caller giving up (its stream cancelled) must not end the others' wait.
        return await asyncio.shield(lookup)

    async def _wait_for_driver_node(self, submission_id: str) -> str | None:
        pause = _DRIVER_POLL_FIRST
        while True:
            details = await self.get_job_info(submission_id)
            node_id = details.get("driver_node_id")
            if node_id or details.get("status") != "PENDING":
                return str(node_id) if node_id else None
            await asyncio.sleep(pause)
            pause = min(_DRIVER_POLL_MAX, pause * 2)

    async def follow_job_end(self, submission_id: str) -> AsyncGenerator[None, None]:
        """
        Yield once the job has left PENDING, then each time Ray's supervisor of the job writes to its
        own log: when the job's entrypoint exits or is stopped it does so just before Ray records the
        job's end, so the caller reads the status then instead of waiting for its next poll (it may
        need to look again a moment later).

        Returns at once when this Ray offers nothing to follow (before 2.40, or a job that ended
        unstarted); raises :class:`RayDashboardError` when the dashboard refuses (a Ray without the
        supervisor's log). Either way the caller's polling still finds the end.

        :param submission_id: the job's submission id.
        """
        driver_node_id = await self._driver_node_id(submission_id)
        if driver_node_id is None or not await self._serves_plain_log_stream():
            return
        yield  # the job left PENDING: a short one may have ended already, before the stream opens
        path = api.supervisor_log_stream_path(submission_id, driver_node_id)
        async for _ in self._stream_text(path, f"supervisor log of job {submission_id!r}"):
            yield

    async def _stream_driver_log(self, submission_id: str, driver_node_id: str) -> AsyncGenerator[str, None]:
        path = api.job_log_stream_path(submission_id, driver_node_id)
        started = False
        try:
            async for chunk in self._stream_text(path, f"log stream of job {submission_id!r}"):
                started = True
                yield chunk
        except RayDashboardError as err:
            if err.http_status != 404 or started:
                raise
            # A Ray without the state API's log endpoint.
            async for chunk in self.tail_job_logs(submission_id):
                yield chunk

    async def _stream_text(self, path: str, what: str) -> AsyncGenerator[str, None]:
        """Yield the text of a streamed answer (the state API's log stream) as it arrives."""
        session, endpoint = await self._client()
        # Only connecting has a deadline: a job may stay silent for hours.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=endpoint.timeout)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            async with session.get(endpoint.join(path), timeout=timeout) as response:
                if response.status != 200:
                    text = (await response.text())[:500].strip()
                    raise RayDashboardError(f"{what} refused: HTTP {response.status}: {text}", response.status)
                async for data in response.content.iter_any():
                    if text := decoder.decode(data):
                        yield text
        except (aiohttp.ClientError, asyncio.TimeoutError) as err:
            raise RayDashboardError(f"{what} broke: {err!r}") from err

    async def tail_job_logs(self, submission_id: str) -> AsyncGenerator[str, None]:
        """
        Yield chunks of the job's log as Ray writes them, until the job ends.

        Ray replays the log from its start on each connection and closes the socket when
        the job is over.
        """
        session, endpoint = await self._client()
        url = endpoint.websocket_url + api.job_logs_tail_path(submission_id)
        try:
            # No overall deadline: a job may log for days. A heartbeat notices a dead peer.
            async with session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=10), heartbeat=30) as ws:
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        yield message.data
                    elif message.type == aiohttp.WSMsgType.ERROR:
                        raise RayDashboardError(f"log stream of job {submission_id!r} broke: {ws.exception()!r}")
        except aiohttp.WSServerHandshakeError as err:
            if err.status == 404:
                await self.get_job_info(submission_id)  # raises the clear "no such job" error
            raise RayDashboardError(f"log stream of job {submission_id!r} refused: {err.message}", err.status) from err


async def _without_prefix(chunks: AsyncIterator[str], skip: int) -> AsyncGenerator[str, None]:
    """The chunks of a stream replayed from its start, less its first ``skip`` characters."""
    async for chunk in chunks:
        if skip >= len(chunk):
            skip -= len(chunk)
            continue
        yield chunk[skip:]
        skip = 0
