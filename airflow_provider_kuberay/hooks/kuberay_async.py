"""The ``kuberay`` connection from an event loop (triggers): every call is non-blocking."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

# Imported with the module, not inside coroutines: an import would block the triggerer's loop.
import aiohttp
from airflow.exceptions import AirflowNotFoundException
from airflow.providers.cncf.kubernetes.hooks.kubernetes import AsyncKubernetesHook
from kubernetes_asyncio import client as async_client
from kubernetes_asyncio import config as async_config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.config_exception import ConfigException

from airflow_provider_kuberay.exceptions import KubeRayApiError, KubeRayUnavailableError
from airflow_provider_kuberay.hooks import dashboard_access as access
from airflow_provider_kuberay.hooks import kube_operations as ops
from airflow_provider_kuberay.hooks import kube_resources as kr
from airflow_provider_kuberay.hooks import shared_api_clients
from airflow_provider_kuberay.hooks.connection_errors import named_connection_errors
from airflow_provider_kuberay.hooks.connection_fields import tls_off_warning
from airflow_provider_kuberay.hooks.dashboard_endpoint import DashboardEndpoint
from airflow_provider_kuberay.hooks.kube_client_plan import (
    KubeClientPlan,
    KubeRayConnectionMixin,
    check_connection_fields,
    connection_field,
)
from airflow_provider_kuberay.hooks.retry import (
    Answer,
    NoAnswer,
    Outcome,
    RetryPolicy,
    one_request_per_attempt,
    retry_after_seconds,
)
from airflow_provider_kuberay.hooks.steps import Steps, run_async, send

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's own from Python 3.11

T = TypeVar("T")

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=10)
# A followed log may stay silent for hours; only connecting has a deadline.
STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None)
# The API server ends a watch after timeoutSeconds; the client allows a margin beyond it.
WATCH_SECONDS = ops.WATCH_SECONDS
WATCH_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=WATCH_SECONDS + 30)
_TIMEOUTS = {ops.REQUEST: REQUEST_TIMEOUT, ops.STREAM: STREAM_TIMEOUT, ops.WATCH: WATCH_TIMEOUT}
# A watch stream that ends without a single event is retried after this pause, never in a hot loop.
EMPTY_WATCH_PAUSE = 0.2
# The ways a stream breaks off mid-way.
_BROKEN_STREAM = (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, asyncio.TimeoutError)


class KubeRayAsyncHook(KubeRayConnectionMixin, AsyncKubernetesHook):
    """
    Kubernetes access for KubeRay resources from an event loop, with the credentials handling of
    ``cncf.kubernetes``'s ``AsyncKubernetesHook`` (the connection is read with the async getter).

    The API client is built inside the first coroutine that needs it; use the hook as an async
    context manager so it is closed::

        async with KubeRayAsyncHook("kuberay") as hook:
            async for event_type, obj in hook.watch_objects("RayJob", "ml", name="train"):
                ...

    It offers every operation of :class:`KubeRayHook`, awaited, with the same names, arguments and
    errors (both run the same :mod:`~airflow_provider_kuberay.hooks.kube_operations`), and a watch.

    :param kuberay_conn_id: id of a ``kuberay`` connection (``None``: default credentials).
    :param retry_policy: retries for transient failures.
    :param kwargs: ``config_dict``, ``config_file``, ``cluster_context``, ``in_cluster``, ``disable_verify_ssl``.
    """

    hook_name = "KubeRay (Kubernetes, async)"
    # Built inside the first coroutine that needs them.
    _api: async_client.ApiClient | None = None
    _plan: KubeClientPlan | None = None
    # The shared client's key; None for a client of the hook's own.
    _shared_key: tuple[str | None, str] | None = None

    def _default_retry_policy(self) -> RetryPolicy:
        # Named in this module, where tests of the triggers make the default policy fast.
        return RetryPolicy()

    async def __aenter__(self) -> KubeRayAsyncHook:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Let go of the API client, if one was opened (the last hook of its connection closes it)."""
        api, self._api = self._api, None
        key, self._shared_key = self._shared_key, None
        if key is not None:
            await shared_api_clients.release(key)
        elif api is not None:
            await api.close()

    # -- connection -----------------------------------------------------------------------------
    async def get_conn_extras(self) -> dict[str, Any]:
        """The connection's extras, read once; the read runs in a thread, off the event loop."""
        if self._extras is None:
            from asgiref.sync import sync_to_async

            # Reading a connection (secrets backends, log masking) is synchronous work in Airflow:
            # tens of milliseconds that would stall every trigger sharing the loop.
            self._extras = await sync_to_async(self._read_extras)()
        return self._extras

    def _read_extras(self) -> dict[str, Any]:
        if not self.conn_id:
            return {}
        try:
            return dict(self.get_connection(self.conn_id).extra_dejson)
        except AirflowNotFoundException:
            if self.conn_id == self.default_conn_name:
                return {}
            raise

    async def _get_field(self, field_name: str) -> Any:
        return connection_field(await self.get_conn_extras(), field_name)

    async def client_plan(self) -> KubeClientPlan:
        """How the connection configures the client (read once; a bad field raises here, naming it)."""
        if self._plan is None:
            # In a thread: parsing a kubeconfig and registering its secrets with Airflow's log masker
            # (which recompiles its pattern each time) are blocking work.
            self._plan = await asyncio.to_thread(
                KubeClientPlan.from_connection,
                await self.get_conn_extras(),
                cluster_context=self.cluster_context,
                config_file=self.config_file,
                config_dict=self.config_dict,
                in_cluster=self.in_cluster,
                disable_verify_ssl=self.disable_verify_ssl,
            )
        return self._plan

    async def _configuration(self, cfg: async_client.Configuration | None = None) -> async_client.Configuration:
        # Bad fields fail here, before any request, with one message naming the connection and field.
        with named_connection_errors("kuberay_conn_id", self.conn_id, ConfigException, OSError):
            return await self._load_configuration(cfg)

    async def _load_configuration(self, cfg: async_client.Configuration | None) -> async_client.Configuration:
        cfg = cfg or self.client_configuration or async_client.Configuration()
        plan = await self.client_plan()
        self._is_in_cluster = plan.load_in_cluster(async_config.load_incluster_config, cfg, ConfigException)
        if self._is_in_cluster:
            plan.finish(cfg)
            return cfg
        if plan.kubeconfig is None:
            await async_config.load_kube_config(
                config_file=plan.kube_config_path, context=plan.context, client_configuration=cfg
            )
        else:
            await async_config.load_kube_config_from_dict(
                plan.kubeconfig, context=plan.context, client_configuration=cfg
            )
        plan.finish(cfg)
        return cfg

    async def check_connection(self) -> None:
        """:meth:`KubeRayHook.check_connection`, without blocking the event loop."""
        with named_connection_errors("kuberay_conn_id", self.conn_id, ConfigException, OSError):
            await self.api_client_async()
            check_connection_fields(await self.get_conn_extras(), self.conn_id)

    async def api_client_async(self) -> async_client.ApiClient:
        """
        The API client of this hook: the one every open hook of the same connection on this loop
        shares (a hook given its own ``client_configuration`` gets a client of its own).
        """
        if self._api is None:
            if self.client_configuration is not None:
                api = await shared_api_clients.new_api_client(await self._configuration())
            else:
                key = (self.conn_id, (await self.client_plan()).fingerprint())
                api = await shared_api_clients.acquire(key, self._configuration)
                self._shared_key = key
            one_request_per_attempt(api.rest_client.pool_manager)
            if not api.configuration.verify_ssl:  # said in each task's log, not only the first
                tls_off_warning(self.log, "kuberay_conn_id", self.conn_id, "the Kubernetes API server")
            self._api = api
        return self._api

    async def namespace_or_default(self, namespace: str | None) -> str:
        """The namespace to use: ``namespace``, else the connection's, else ``default``."""
        return namespace or await self._get_field("namespace") or kr.DEFAULT_NAMESPACE

    async def dashboard_access(self) -> str:
        """How Ray dashboards are reached: ``auto``, ``proxy``, ``direct`` or ``url``."""
        return access.parse_access_mode(await self._get_field("dashboard_access"), self.conn_id)

    # -- the steps of kube_operations, performed with kubernetes_asyncio -----------------------
    async def _run(self, steps: Steps[T]) -> T:
        return await run_async(steps, self)

    async def _send_once(self, request: ops.KubeRequest) -> Outcome:
        api = await self.api_client_async()
        try:
            response: aiohttp.ClientResponse = await api.call_api(
                request.path,
                request.method,
                _request_timeout=_TIMEOUTS[request.timeout],
                **request.call_api_arguments(),
            )
        except ApiException as err:
            return ops.api_exception_outcome(err, str(err.body or ""))
        except aiohttp.ClientSSLError as err:
            return NoAnswer(err, tls=True)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as err:
            return NoAnswer(err)
        if 200 <= response.status < 300:
            return Answer(response.status, response)
        try:
            text = await response.text(errors="replace")
        finally:
            response.release()
        return Answer(response.status, text=text, retry_after=retry_after_seconds(response.headers.get("Retry-After")))

    async def _pause(self, seconds: float, why: str) -> None:
        if why:
            self.log.warning("%s", why)
        await asyncio.sleep(seconds)

    async def _reload_credentials(self, why: str) -> None:
        self.log.info("%s", why)
        await self._configuration((await self.api_client_async()).configuration)

    async def _read_body(self, response: Any) -> str:
        try:
            return str(await response.text(errors="replace"))
        finally:
            response.release()

    async def _api_server_access(self) -> access.ApiServerAccess:
        cfg = (await self.api_client_async()).configuration
        return access.access_from_configuration(cfg, await cfg.auth_settings())

    # -- custom objects (see KubeRayHook for the details) --------------------------------------
    async def create_object(
        self, kind: str, body: dict[str, Any], namespace: str | None = None, *, dry_run: bool = False
    ) -> dict[str, Any]:
        """Create a RayCluster, RayJob or RayService (:meth:`KubeRayHook.create_object`)."""
        return await self._run(ops.create_object(self.retry_policy, kind, body, namespace, dry_run, self.crd_schemas))

    async def get_object(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        """Return an object; :class:`KubeRayNotFoundError` when it does not exist."""
        return await self._run(ops.get_object(self.retry_policy, kind, name, namespace))

    async def find_object(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """Return an object, or ``None`` when it does not exist."""
        return await self._run(ops.find_object(self.retry_policy, kind, name, namespace))

    async def patch_object(
        self, kind: str, name: str, patch: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        """Apply a JSON merge patch and return the object (:meth:`KubeRayHook.patch_object`)."""
        return await self._run(ops.patch_object(self.retry_policy, kind, name, patch, namespace))

    async def delete_object(
        self, kind: str, name: str, namespace: str | None = None, *, propagation: str = "Foreground"
    ) -> bool:
        """Ask for an object's deletion; ``False`` if it did not exist (:meth:`KubeRayHook.delete_object`)."""
        return await self._run(ops.delete_object(self.retry_policy, kind, name, namespace, propagation))

    async def wait_until_deleted(
        self, kind: str, name: str, namespace: str | None = None, *, timeout: float = 300, poll_interval: float = 2
    ) -> None:
        """Wait until an object is gone; :class:`KubeRayTimeoutError` after ``timeout`` seconds."""
        await self._run(ops.wait_until_deleted(self.retry_policy, kind, name, namespace, timeout, poll_interval))

    async def list_objects(
        self, kind: str, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        """Return the objects of a kind in a namespace, optionally by label selector."""
        return await self._run(ops.list_objects(self.retry_policy, kind, namespace, label_selector))

    async def watch_objects(
        self,
        kind: str,
        namespace: str | None,
        *,
        name: str | None = None,
        label_selector: str | None = None,
        on_listed: Callable[[], None] | None = None,
    ) -> AsyncGenerator[tuple[str, dict[str, Any]], None]:
        """
        Yield ``(event type, object)`` for a kind's objects, forever.

        Starts with a list (current objects as ``ADDED``), then watches from the list's
        resourceVersion, resuming from the last one seen when a stream ends. When the API answers
        ``410 Gone`` it lists again: objects seen before come again as ``ADDED`` and those gone
        meanwhile as ``DELETED``. Transient failures back off; after ``retry_policy.attempts``
        failures in a row :class:`KubeRayUnavailableError` is raised.

        :param kind: ``RayCluster``, ``RayJob`` or ``RayService``.
        :param namespace: namespace (``None``: the connection's).
        :param name: only this object.
        :param label_selector: only objects matching it.
        :param on_listed: called after each list's objects were yielded (the watch is then complete).
        """
        ns = await self.namespace_or_default(namespace)
        selectors = {"labelSelector": label_selector, "fieldSelector": f"metadata.name={name}" if name else None}
        what = f"watch {kind} in {ns}" + (f" named {name}" if name else "")
        version: str | None = None
        known: dict[str, dict[str, Any]] = {}
        failures = 0
        while True:
            try:
                if version is None:
                    listed, version = await self._run(
                        ops.list_pages(self.retry_policy, ops.list_request(kind, ns, selectors), attempts=1)
                    )
                    current = {kr.object_name(item): item for item in listed}
                    for gone in [n for n in known if n not in current]:
                        yield "DELETED", known.pop(gone)
                    for item in current.values():
                        yield "ADDED", item
                    known = current
                    failures = 0
                    if on_listed is not None:
                        on_listed()
                received = False
                async for event_type, obj in self._watch_stream(ops.watch_request(kind, ns, selectors, version, what)):
                    received = True
                    failures = 0
                    version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                    if event_type == "BOOKMARK":
                        continue
                    if event_type == "DELETED":
                        known.pop(kr.object_name(obj), None)
                    else:
                        known[kr.object_name(obj)] = obj
                    yield event_type, obj
                if not received:
                    await asyncio.sleep(EMPTY_WATCH_PAUSE)
            except _Gone:
                self.log.info("%s: resourceVersion %s expired, listing again", what, version)
                version = None
            except KubeRayApiError as err:
                if err.http_status == 410:
                    version = None
                    continue
                if not isinstance(err, KubeRayUnavailableError):
                    raise
                failures += 1
                if failures >= self.retry_policy.attempts:
                    raise KubeRayUnavailableError(
                        f"{what} failed {failures} times in a row: {err}", err.http_status
                    ) from err
                self.log.warning("%s interrupted (%s); retrying (%d)", what, err, failures)
                await asyncio.sleep(self.retry_policy.delay(failures, err.retry_after))

    async def _watch_stream(self, request: ops.KubeRequest) -> AsyncGenerator[tuple[str, dict[str, Any]], None]:
        what = request.what
        response = await self._run(send(request, self.retry_policy, attempts=1))
        try:
            async for line in response.content:
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError as err:  # a line cut short: resume from the last good version
                    raise KubeRayUnavailableError(f"{what}: unreadable event: {err}") from err
                event_type, obj = str(event.get("type")), dict(event.get("object") or {})
                if event_type == "ERROR":
                    code = int(obj.get("code") or 0)
                    if code == 410:
                        raise _Gone()
                    raise kr.api_error(code, json.dumps(obj), what)
                yield event_type, obj
        except _BROKEN_STREAM as err:
            raise KubeRayUnavailableError(f"{what}: the stream broke: {err!r}") from err
        finally:
            response.release()

    # -- pods, logs, events, config maps --------------------------------------------------------
    async def list_pods(self, namespace: str | None = None, *, label_selector: str) -> list[dict[str, Any]]:
        """Return the pods matching a label selector, e.g. ``ray.io/cluster=my-cluster``."""
        return await self._run(ops.list_pods(self.retry_policy, namespace, label_selector))

    async def read_pod_log(
        self, name: str, namespace: str | None = None, *, container: str | None = None, tail_lines: int | None = None
    ) -> str:
        """Return a pod's log (``tail_lines``: only the last lines)."""
        return await self._run(ops.read_pod_log(self.retry_policy, name, namespace, container, tail_lines))

    async def stream_pod_log(
        self, name: str, namespace: str | None = None, *, container: str | None = None
    ) -> AsyncGenerator[str, None]:
        """Yield a pod's log lines (without line ends) as the container writes them, until it ends."""
        response, what = await self._run(ops.open_pod_log(self.retry_policy, name, namespace, container))
        lines = ops.LineSplitter()
        try:
            async for chunk in response.content.iter_any():
                for line in lines.feed(chunk):
                    yield line
            for line in lines.end():
                yield line
        except _BROKEN_STREAM as err:
            # A cut stream is the API's trouble, told like every other (the partial line is not yielded).
            raise KubeRayUnavailableError(f"{what}: the stream broke: {err!r}") from err
        finally:
            response.release()

    async def list_events(
        self, name: str, namespace: str | None = None, *, kind: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        """Return the newest events about an object, oldest first; ``lastTimestamp`` is always filled."""
        return await self._run(ops.list_events(self.retry_policy, name, namespace, kind, limit))

    async def list_workloads(self, job_uid: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Return the Kueue Workloads of a job, by its uid (:meth:`KubeRayHook.list_workloads`)."""
        return await self._run(ops.list_workloads(self.retry_policy, namespace, job_uid))

    async def create_config_map(
        self, name: str, data: dict[str, str], namespace: str | None = None, **options: Unpack[ops.ConfigMapOptions]
    ) -> dict[str, Any]:
        """Create a ConfigMap; ``owner`` and ``labels`` as in :meth:`KubeRayHook.create_config_map`."""
        owner, labels = options.get("owner"), options.get("labels")
        return await self._run(ops.create_config_map(self.retry_policy, name, data, namespace, owner, labels))

    async def delete_config_map(self, name: str, namespace: str | None = None) -> bool:
        """Delete a ConfigMap; returns ``False`` if it did not exist."""
        return await self._run(ops.delete_config_map(self.retry_policy, name, namespace))

    # -- dashboards -----------------------------------------------------------------------------
    async def dashboard_endpoint(self, cluster_name: str, namespace: str | None = None) -> DashboardEndpoint:
        """How to reach the Ray dashboard of a RayCluster, following the connection's ``dashboard_access``."""
        return await self._run(ops.dashboard_endpoint(self.retry_policy, cluster_name, namespace, self.conn_id))

    async def test_connection(self) -> tuple[bool, str]:
        """Check that the API server answers."""
        return await self._run(ops.connection_test(self.retry_policy))


class _Gone(Exception):
    """The watch's resourceVersion is too old (``410 Gone``): list again."""
