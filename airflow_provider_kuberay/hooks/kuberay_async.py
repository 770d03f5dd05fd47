"""The ``kuberay`` connection from an event loop (triggers): every call is non-blocking."""

from __future__ import annotations

import asyncio
import codecs
import json
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any

# Imported with the module, not inside coroutines: an import would block the triggerer's loop.
import aiohttp
from airflow.exceptions import AirflowNotFoundException
from airflow.providers.cncf.kubernetes.hooks.kubernetes import AsyncKubernetesHook
from kubernetes_asyncio import client as async_client
from kubernetes_asyncio import config as async_config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.config_exception import ConfigException

from airflow_provider_kuberay.exceptions import (
    KubeRayApiError,
    KubeRayNotFoundError,
    KubeRayUnavailableError,
)
from airflow_provider_kuberay.hooks import dashboard_access as access
from airflow_provider_kuberay.hooks import kube_resources as kr
from airflow_provider_kuberay.hooks.connection_errors import named_connection_errors
from airflow_provider_kuberay.hooks.connection_fields import as_flag, tls_off_warning
from airflow_provider_kuberay.hooks.dashboard_endpoint import DashboardEndpoint
from airflow_provider_kuberay.hooks.kubeconfig_check import check_kubeconfig
from airflow_provider_kuberay.hooks.kubeconfig_memory import in_memory_credentials, mask_kubeconfig_secrets
from airflow_provider_kuberay.hooks.retry import RetryPolicy, retry_after_seconds

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=10)
# A followed log may stay silent for hours; only connecting has a deadline.
STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None)
# The API server ends a watch after timeoutSeconds; the client allows a margin beyond it.
WATCH_SECONDS = 290
WATCH_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=WATCH_SECONDS + 30)
# A watch stream that ends without a single event is retried after this pause, never in a hot loop.
EMPTY_WATCH_PAUSE = 0.2


class KubeRayAsyncHook(AsyncKubernetesHook):
    """
    Kubernetes access for KubeRay resources from an event loop, with the credentials handling of
    ``cncf.kubernetes``'s ``AsyncKubernetesHook`` (the connection is read with the async getter).

    The API client is built inside the first coroutine that needs it; use the hook as an async
    context manager so it is closed::

        async with KubeRayAsyncHook("kuberay") as hook:
            async for event_type, obj in hook.watch_objects("RayJob", "ml", name="train"):
                ...

    Methods mirror :class:`KubeRayHook` and return plain dicts; errors are the same
    :class:`KubeRayApiError` subclasses.

    :param kuberay_conn_id: id of a ``kuberay`` connection (``None``: default credentials).
    :param retry_policy: retries for transient failures.
    :param kwargs: ``config_dict``, ``config_file``, ``cluster_context``, ``in_cluster``, ``disable_verify_ssl``.
    """

    conn_name_attr = "kuberay_conn_id"
    default_conn_name = "kuberay_default"
    conn_type = "kuberay"
    hook_name = "KubeRay (Kubernetes, async)"

    def __init__(
        self,
        kuberay_conn_id: str | None = default_conn_name,
        *,
        retry_policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("kubernetes_conn_id", None)
        super().__init__(conn_id=kuberay_conn_id, **kwargs)
        self.kuberay_conn_id = kuberay_conn_id
        self.retry_policy = retry_policy or RetryPolicy()
        self._api: async_client.ApiClient | None = None

    async def __aenter__(self) -> KubeRayAsyncHook:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the API client, if one was opened."""
        if self._api is not None:
            await self._api.close()
            self._api = None

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
        extras = await self.get_conn_extras()
        prefixed = f"extra__{self.conn_type}__{field_name}"
        if extras.get(field_name) in (None, "") and extras.get(prefixed) not in (None, ""):
            return extras[prefixed]
        value = await super()._get_field(field_name)
        return None if value == "" else value

    async def _configuration(self, cfg: async_client.Configuration | None = None) -> async_client.Configuration:
        # Bad fields fail here, before any request, with one message naming the connection and field.
        with named_connection_errors("kuberay_conn_id", self.conn_id, ConfigException, OSError):
            cfg = await self._load_configuration(cfg)
        if not cfg.verify_ssl:
            tls_off_warning(self.log, "kuberay_conn_id", self.conn_id, "the Kubernetes API server")
        return cfg

    async def _load_configuration(self, cfg: async_client.Configuration | None) -> async_client.Configuration:
        cfg = cfg or self.client_configuration or async_client.Configuration()
        context = self._coalesce_param(self.cluster_context, await self._get_field("cluster_context"))
        path = self._coalesce_param(self.config_file, await self._get_field("kube_config_path"))
        inline = await self._get_field("kube_config")
        in_cluster = self._coalesce_param(self.in_cluster, as_flag(await self._get_field("in_cluster"), "in_cluster"))
        source = kr.config_source(
            in_cluster=in_cluster, kube_config=inline, kube_config_path=path, config_dict=self.config_dict
        )
        self._is_in_cluster = source == "in_cluster"
        if source == "in_cluster":
            async_config.load_incluster_config(client_configuration=cfg)
        elif source == "kube_config_path":
            await async_config.load_kube_config(
                config_file=kr.existing_file(path), context=context, client_configuration=cfg
            )
        elif source in ("kube_config", "config_dict"):
            document = kr.parse_kubeconfig(inline if source == "kube_config" else self.config_dict)
            check_kubeconfig(document, context)
            mask_kubeconfig_secrets(document)
            document = in_memory_credentials(document)  # keys and certificates never go to disk
            await async_config.load_kube_config_from_dict(document, context=context, client_configuration=cfg)
        else:
            try:
                async_config.load_incluster_config(client_configuration=cfg)
                self._is_in_cluster = True
            except ConfigException:
                await async_config.load_kube_config(context=context, client_configuration=cfg)
        disable_verify = self._coalesce_param(
            self.disable_verify_ssl, as_flag(await self._get_field("disable_verify_ssl"), "disable_verify_ssl")
        )
        if disable_verify is True:
            cfg.verify_ssl = False
        return cfg

    async def api_client_async(self) -> async_client.ApiClient:
        """The API client of this hook, built on first use (inside the running loop)."""
        if self._api is None:
            self._api = async_client.ApiClient(configuration=await self._configuration())
        return self._api

    async def namespace_or_default(self, namespace: str | None) -> str:
        """The namespace to use: ``namespace``, else the connection's, else ``default``."""
        return namespace or await self._get_field("namespace") or kr.DEFAULT_NAMESPACE

    async def dashboard_access(self) -> str:
        """How Ray dashboards are reached: ``auto``, ``proxy``, ``direct`` or ``url``."""
        return access.parse_access_mode(await self._get_field("dashboard_access"), self.conn_id)

    # -- transport ------------------------------------------------------------------------------
    async def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = kr.JSON,
        timeout: aiohttp.ClientTimeout = REQUEST_TIMEOUT,
        retry: bool = True,
    ) -> aiohttp.ClientResponse:
        api = await self.api_client_async()
        attempts = self.retry_policy.attempts if retry else 1
        params = [(k, str(v)) for k, v in (query or {}).items() if v is not None]
        attempt, reloaded = 0, False
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                response: aiohttp.ClientResponse = await api.call_api(
                    path,
                    method,
                    query_params=params,
                    header_params={"Accept": "application/json, */*", "Content-Type": content_type},
                    body=body,
                    auth_settings=["BearerToken"],
                    _preload_content=False,
                    _return_http_data_only=True,
                    _request_timeout=timeout,
                )
            except ApiException as err:
                raise KubeRayApiError(f"Kubernetes API: cannot {what}: {err.reason}") from err
            except aiohttp.ClientSSLError as err:  # a certificate will not verify better on a second try
                raise KubeRayApiError(f"Kubernetes API: TLS failure to {what}: {err!r}") from err
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as err:
                if attempt == attempts:
                    raise KubeRayUnavailableError(
                        f"Kubernetes API unreachable to {what} after {attempt} attempts: {err!r}"
                    ) from err
                self.log.warning("Kubernetes API unreachable to %s (%r); retrying (%d)", what, err, attempt)
            else:
                if 200 <= response.status < 300:
                    return response
                status = response.status
                try:
                    text = await response.text(errors="replace")
                finally:
                    response.release()
                if status == 401 and not reloaded:
                    # Tokens rotate (service account, exec plugins, kubeconfig files): reload them once.
                    self.log.info("Kubernetes API answered 401 to %s; reloading the credentials", what)
                    await self._configuration(api.configuration)
                    attempt, reloaded = attempt - 1, True
                    continue
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                if not kr.is_transient(status) or attempt == attempts:
                    raise kr.api_error(status, text, what, attempts=attempt, retry_after=retry_after)
                self.log.warning("Kubernetes API answered %s to %s; retrying (%d)", status, what, attempt)
            await asyncio.sleep(self.retry_policy.delay(attempt, retry_after))

    async def _json(self, method: str, path: str, *, what: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._request(method, path, what=what, **kwargs)
        try:
            text = await response.text(errors="replace")
        finally:
            response.release()
        return dict(json.loads(text)) if text.strip() else {}

    # -- custom objects -------------------------------------------------------------------------
    async def get_object(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        """
        Return an object.

        :raises KubeRayNotFoundError: it does not exist.
        """
        resource, ns = kr.resource_for(kind), await self.namespace_or_default(namespace)
        return await self._json("GET", resource.object_path(ns, name), what=f"get {kind} {ns}/{name}")

    async def find_object(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """Return an object, or ``None`` when it does not exist."""
        try:
            return await self.get_object(kind, name, namespace)
        except KubeRayNotFoundError:
            return None

    async def list_objects(
        self, kind: str, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        """Return the objects of a kind in a namespace, optionally by label selector."""
        resource, ns = kr.resource_for(kind), await self.namespace_or_default(namespace)
        answer = await self._json(
            "GET", resource.collection_path(ns), what=f"list {kind} in {ns}", query={"labelSelector": label_selector}
        )
        return list(answer.get("items") or [])

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
        resource, ns = kr.resource_for(kind), await self.namespace_or_default(namespace)
        path = resource.collection_path(ns)
        selectors = {"labelSelector": label_selector, "fieldSelector": f"metadata.name={name}" if name else None}
        what = f"watch {kind} in {ns}" + (f" named {name}" if name else "")
        version: str | None = None
        known: dict[str, dict[str, Any]] = {}
        failures = 0
        while True:
            try:
                if version is None:
                    listing = await self._json("GET", path, what=f"list {kind} in {ns}", query=selectors, retry=False)
                    version = str((listing.get("metadata") or {}).get("resourceVersion") or "") or None
                    current = {kr.object_name(item): item for item in listing.get("items") or []}
                    for gone in [n for n in known if n not in current]:
                        yield "DELETED", known.pop(gone)
                    for item in current.values():
                        yield "ADDED", item
                    known = current
                    failures = 0
                    if on_listed is not None:
                        on_listed()
                received = False
                async for event_type, obj in self._watch_stream(path, version, selectors, what):
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

    async def _watch_stream(
        self, path: str, version: str | None, selectors: Mapping[str, str | None], what: str
    ) -> AsyncGenerator[tuple[str, dict[str, Any]], None]:
        query = {
            **selectors,
            "watch": "true",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": WATCH_SECONDS,
            "resourceVersion": version,
        }
        response = await self._request("GET", path, what=what, query=query, timeout=WATCH_TIMEOUT, retry=False)
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
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, asyncio.TimeoutError) as err:
            raise KubeRayUnavailableError(f"{what}: the stream broke: {err!r}") from err
        finally:
            response.release()

    # -- pods, logs, events ---------------------------------------------------------------------
    async def list_pods(self, namespace: str | None = None, *, label_selector: str) -> list[dict[str, Any]]:
        """Return the pods matching a label selector, e.g. ``ray.io/cluster=my-cluster``."""
        ns = await self.namespace_or_default(namespace)
        answer = await self._json(
            "GET",
            kr.core_path(ns, "pods"),
            what=f"list pods {label_selector!r} in {ns}",
            query={"labelSelector": label_selector},
        )
        return list(answer.get("items") or [])

    async def read_pod_log(
        self, name: str, namespace: str | None = None, *, container: str | None = None, tail_lines: int | None = None
    ) -> str:
        """Return a pod's log (``tail_lines``: only the last lines)."""
        ns = await self.namespace_or_default(namespace)
        response = await self._request(
            "GET",
            kr.core_path(ns, "pods", name, "log"),
            what=f"read the log of pod {ns}/{name}",
            query={"container": container, "tailLines": tail_lines},
        )
        try:
            return await response.text(errors="replace")
        finally:
            response.release()

    async def stream_pod_log(
        self, name: str, namespace: str | None = None, *, container: str | None = None
    ) -> AsyncGenerator[str, None]:
        """Yield a pod's log lines (without line ends) as the container writes them, until it ends."""
        ns = await self.namespace_or_default(namespace)
        response = await self._request(
            "GET",
            kr.core_path(ns, "pods", name, "log"),
            what=f"follow the log of pod {ns}/{name}",
            query={"container": container, "follow": "true"},
            timeout=STREAM_TIMEOUT,
        )
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        try:
            async for chunk in response.content.iter_any():
                pending += decoder.decode(chunk)
                *lines, pending = pending.split("\n")
                for line in lines:
                    yield line
            pending += decoder.decode(b"", final=True)
            if pending:
                yield pending
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, asyncio.TimeoutError) as err:
            # A cut stream is the API's trouble, told like every other (the partial line is not yielded).
            raise KubeRayUnavailableError(f"follow the log of pod {ns}/{name}: the stream broke: {err!r}") from err
        finally:
            response.release()

    async def list_events(
        self, name: str, namespace: str | None = None, *, kind: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        """Return the newest events about an object, oldest first; ``lastTimestamp`` is always filled."""
        ns = await self.namespace_or_default(namespace)
        answer = await self._json(
            "GET",
            kr.core_path(ns, "events"),
            what=f"list the events of {kind or 'object'} {ns}/{name}",
            query={"fieldSelector": kr.events_field_selector(name, kind)},
        )
        return kr.newest_events(list(answer.get("items") or []), limit)

    # -- dashboards -----------------------------------------------------------------------------
    async def dashboard_endpoint(self, cluster_name: str, namespace: str | None = None) -> DashboardEndpoint:
        """How to reach the Ray dashboard of a RayCluster, following the connection's ``dashboard_access``."""
        ns = await self.namespace_or_default(namespace)
        mode = access.effective_mode(await self.dashboard_access(), in_pod=access.running_in_pod())
        service = None
        api_server = None
        if mode in ("direct", "proxy"):
            service = access.head_service_name(cluster_name, await self.find_object("RayCluster", cluster_name, ns))
        if mode == "proxy":
            cfg = (await self.api_client_async()).configuration
            api_server = access.access_from_configuration(cfg, await cfg.auth_settings())
        endpoint = access.endpoint_for(
            mode,
            cluster_name=cluster_name,
            namespace=ns,
            service=service,
            access=api_server,
            url_template=await self._get_field("dashboard_url"),
            conn_id=self.conn_id,
        )
        access.mask_endpoint_secrets(endpoint)
        return endpoint


class _Gone(Exception):
    """The watch's resourceVersion is too old (``410 Gone``): list again."""
