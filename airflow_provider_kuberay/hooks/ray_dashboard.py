"""Synchronous client of the Ray dashboard's Jobs and Serve REST API (for workers)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_kuberay.exceptions import RayDashboardError
from airflow_provider_kuberay.hooks import ray_jobs_api as api
from airflow_provider_kuberay.hooks.ray_dashboard_base import RayDashboardHookBase
from airflow_provider_kuberay.hooks.retry import Answer, NoAnswer, Outcome, retry_after_seconds
from airflow_provider_kuberay.hooks.runtime_env import local_packages, with_uploaded_packages
from airflow_provider_kuberay.hooks.steps import run_sync, send

if TYPE_CHECKING:
    import requests


class RayDashboardHook(RayDashboardHookBase):
    """
    Talk to a Ray dashboard: submit, follow, stop and delete jobs; read and deploy Serve applications.

    The ``ray_dashboard`` connection holds the dashboard URL as host, an optional bearer token as
    password, and extras ``headers``, ``verify_ssl`` (true by default), ``ca_bundle_path``, ``timeout``.
    Transient failures (connection errors, 429, 5xx) are retried with jittered backoff, a bounded
    number of times, waiting at least what a ``Retry-After`` header asks (capped); every other error
    surfaces with the dashboard's own message.

    :param ray_dashboard_conn_id: id of a ``ray_dashboard`` connection.
    :param dashboard_url: a dashboard URL overriding the connection's host.
    :param endpoint: a fully resolved endpoint; when given, no connection is read.
    :param retry_policy: retries for connection errors, 429 and 5xx answers.
    """

    _session: requests.Session | None = None

    def get_conn(self) -> requests.Session:
        """Return the HTTP session, configured from the connection."""
        if self._session is None:
            import requests

            endpoint = self.endpoint
            session = requests.Session()
            session.headers.update(endpoint.headers)
            self._session = session
        return self._session

    def close(self) -> None:
        """Close the HTTP session, if one was opened."""
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- the steps of hooks.steps.send, performed with requests ---------------------------------
    def _send_once(self, call: api.DashboardCall) -> Outcome:
        import requests

        endpoint, request = self.endpoint, call.request
        try:
            response = self.get_conn().request(
                request.method,
                endpoint.join(request.path),
                json=request.json,
                data=request.data,
                timeout=endpoint.timeout,
                # Per request: a session-level verify loses to $REQUESTS_CA_BUNDLE.
                verify=endpoint.verify,
                cert=endpoint.client_cert,
            )
        except (requests.ConnectionError, requests.Timeout) as err:
            return NoAnswer(err)
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        return Answer(response.status_code, response.text, response.text, retry_after)

    def _pause(self, seconds: float, why: str) -> None:
        self.log.warning("%s", why)
        time.sleep(seconds)

    def _call(self, request: api.ApiRequest) -> Any:
        text = run_sync(send(api.DashboardCall(request, self.endpoint.url), self.retry_policy), self)
        return json.loads(text) if text.strip() else None

    def submit_job(self, *, entrypoint: str, submission_id: str, **options: Any) -> str:
        """Submit a job; see :func:`ray_jobs_api.submit_job` for the options. Returns its submission id."""
        answer = self._call(api.submit_job(entrypoint=entrypoint, submission_id=submission_id, **options))
        return str(answer["submission_id"])

    def get_job_info(self, submission_id: str) -> dict[str, Any]:
        """Return the job's details document (status, message, timestamps, metadata...)."""
        return dict(self._call(api.job_info(submission_id)))

    def get_job_status(self, submission_id: str) -> str:
        """Return the job's status string (PENDING, RUNNING, STOPPED, SUCCEEDED, FAILED)."""
        return str(self.get_job_info(submission_id)["status"])

    def get_job_logs(self, submission_id: str) -> str:
        """Return the whole log of the job so far."""
        return str(self._call(api.job_logs(submission_id))["logs"])

    def stop_job(self, submission_id: str) -> bool:
        """Ask Ray to stop the job; returns whether it was running."""
        return bool(self._call(api.stop_job(submission_id))["stopped"])

    def delete_job(self, submission_id: str) -> bool:
        """Delete a terminal job's record and logs."""
        return bool(self._call(api.delete_job(submission_id))["deleted"])

    def list_jobs(self) -> list[dict[str, Any]]:
        """Return the details of every job the cluster knows."""
        return list(self._call(api.list_jobs()))

    def get_version(self) -> dict[str, Any]:
        """Return the dashboard's API and Ray versions."""
        return dict(self._call(api.version()))

    def get_serve_applications(self) -> dict[str, Any]:
        """Return the Serve REST API's view of the deployed applications."""
        return dict(self._call(api.serve_applications()))

    def deploy_serve_applications(self, config: Mapping[str, Any]) -> None:
        """Deploy a Serve config (declarative: applications not in it are removed)."""
        self._call(api.deploy_serve_applications(config))

    def delete_serve_applications(self) -> None:
        """Shut down every Serve application."""
        self._call(api.delete_serve_applications())

    def upload_local_packages(self, runtime_env: Mapping[str, Any]) -> dict[str, Any]:
        """
        Upload the local ``working_dir`` / ``py_modules`` directories of a runtime env, if the
        dashboard does not hold them already, and return the runtime env pointing at them.
        """
        excludes = list(runtime_env.get("excludes") or [])
        uploaded: dict[str, str] = {}
        for package in local_packages(runtime_env):
            uri, content = package.build(excludes)
            try:
                self._call(api.package_exists(uri))
            except RayDashboardError as err:
                if err.http_status != 404:
                    raise
                self.log.info("Uploading %s (%s, %d bytes) as %s", package.field, package.path, len(content), uri)
                self._call(api.upload_package(uri, content))
            else:
                self.log.info("%s %s is on the cluster already as %s", package.field, package.path, uri)
            uploaded[package.field] = uri
        return with_uploaded_packages(runtime_env, uploaded)

    def tail_job_logs(self, submission_id: str) -> Iterator[str]:
        """Yield chunks of the job's log as Ray writes them, until the job ends (websocket)."""
        from airflow_provider_kuberay.hooks.ray_dashboard_async import RayDashboardAsyncHook

        async_hook = RayDashboardAsyncHook(
            self.ray_dashboard_conn_id, endpoint=self.endpoint, retry_policy=self.retry_policy
        )
        # A private loop: workers run no event loop of their own.
        loop = asyncio.new_event_loop()
        chunks = async_hook.tail_job_logs(submission_id)
        try:
            while True:
                try:
                    yield loop.run_until_complete(chunks.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            loop.run_until_complete(chunks.aclose())
            loop.run_until_complete(async_hook.close())
            loop.close()

    def test_connection(self) -> tuple[bool, str]:
        """Check that the dashboard answers (used by the connection form's Test button)."""
        try:
            version = self.get_version()
        except Exception as err:
            return False, str(err)
        return True, f"Ray {version.get('ray_version', '?')} dashboard reachable at {self.endpoint.url}"
