"""The ``kuberay`` connection: reach a Kubernetes cluster that runs the KubeRay operator (sync, for workers)."""

from __future__ import annotations

import codecs
import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

import urllib3
from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from airflow_provider_kuberay.exceptions import (
    KubeRayApiError,
    KubeRayNotFoundError,
    KubeRayTimeoutError,
    KubeRayUnavailableError,
)
from airflow_provider_kuberay.hooks import dashboard_access as access
from airflow_provider_kuberay.hooks import kube_resources as kr
from airflow_provider_kuberay.hooks.connection_errors import named_connection_errors
from airflow_provider_kuberay.hooks.connection_fields import as_flag, tls_off_warning
from airflow_provider_kuberay.hooks.dashboard_access import DASHBOARD_ACCESS_MODES
from airflow_provider_kuberay.hooks.dashboard_endpoint import DashboardEndpoint
from airflow_provider_kuberay.hooks.kubeconfig_check import check_kubeconfig
from airflow_provider_kuberay.hooks.kubeconfig_memory import in_memory_credentials, mask_kubeconfig_secrets
from airflow_provider_kuberay.hooks.retry import RetryPolicy, retry_after_seconds

__all__ = ["DASHBOARD_ACCESS_MODES", "KubeRayHook"]

# (connect, read) seconds: a plain request; a followed log may stay silent for hours.
REQUEST_TIMEOUT = (10.0, 60.0)
STREAM_TIMEOUT = (10.0, None)


class KubeRayHook(KubernetesHook):
    """
    Kubernetes access for KubeRay resources, with the credentials handling of the ``cncf.kubernetes``
    provider: in-cluster, kubeconfig path or inline kubeconfig (parsed in memory, never written to
    disk by this hook), context, default namespace and TLS verification (on by default), read from a
    ``kuberay`` connection.

    Every call returns plain dicts shaped like the API's JSON. Transient failures (429, 5xx,
    connection errors, timeouts) are retried with jittered backoff a bounded number of times, one
    request per attempt, waiting at least what a ``Retry-After`` header asks (capped);
    other errors raise :class:`KubeRayApiError` (404: :class:`KubeRayNotFoundError`, 409:
    :class:`KubeRayConflictError`) carrying the API's message.

    :param kuberay_conn_id: id of a ``kuberay`` connection (``None``: default credentials).
    :param retry_policy: retries for transient failures.
    :param kwargs: passed to ``KubernetesHook``: ``config_dict``, ``config_file``, ``cluster_context``,
        ``in_cluster``, ``disable_verify_ssl``, ``client_configuration``.
    """

    conn_name_attr = "kuberay_conn_id"
    default_conn_name = "kuberay_default"
    conn_type = "kuberay"
    hook_name = "KubeRay (Kubernetes)"

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

    # -- connection -----------------------------------------------------------------------------
    def _get_field(self, field_name: str) -> Any:
        extras = self.conn_extras
        prefixed = f"extra__{self.conn_type}__{field_name}"
        if extras.get(field_name) in (None, "") and extras.get(prefixed) not in (None, ""):
            return extras[prefixed]
        return super()._get_field(field_name)

    @property
    def dashboard_access(self) -> str:
        """How Ray dashboards are reached: ``auto``, ``proxy``, ``direct`` or ``url``."""
        return access.parse_access_mode(self._get_field("dashboard_access"), self.conn_id)

    def _configuration(self, cfg: client.Configuration | None = None) -> client.Configuration:
        # Bad fields fail here, before any request, with one message naming the connection and field.
        with named_connection_errors("kuberay_conn_id", self.conn_id, ConfigException, OSError):
            cfg = self._load_configuration(cfg)
        if not cfg.verify_ssl:
            tls_off_warning(self.log, "kuberay_conn_id", self.conn_id, "the Kubernetes API server")
        return cfg

    def _load_configuration(self, cfg: client.Configuration | None) -> client.Configuration:
        # A configuration of our own: loading never changes the process-wide default one.
        cfg = cfg or self.client_configuration or client.Configuration()
        context = self._coalesce_param(self.cluster_context, self._get_field("cluster_context"))
        path = self._coalesce_param(self.config_file, self._get_field("kube_config_path"))
        inline = self._get_field("kube_config")
        in_cluster = self._coalesce_param(self.in_cluster, as_flag(self._get_field("in_cluster"), "in_cluster"))
        source = kr.config_source(
            in_cluster=in_cluster, kube_config=inline, kube_config_path=path, config_dict=self.config_dict
        )
        self._is_in_cluster = source == "in_cluster"
        if source == "in_cluster":
            config.load_incluster_config(client_configuration=cfg)
        elif source == "kube_config_path":
            config.load_kube_config(config_file=kr.existing_file(path), context=context, client_configuration=cfg)
        elif source in ("kube_config", "config_dict"):
            document = kr.parse_kubeconfig(inline if source == "kube_config" else self.config_dict)
            check_kubeconfig(document, context)
            mask_kubeconfig_secrets(document)
            document = in_memory_credentials(document)  # keys and certificates never go to disk
            config.load_kube_config_from_dict(document, context=context, client_configuration=cfg)
        else:
            try:
                config.load_incluster_config(client_configuration=cfg)
                self._is_in_cluster = True
            except ConfigException:
                config.load_kube_config(context=context, client_configuration=cfg)
        disable_verify = self._coalesce_param(
            self.disable_verify_ssl, as_flag(self._get_field("disable_verify_ssl"), "disable_verify_ssl")
        )
        if disable_verify is True:
            cfg.verify_ssl = False
        # urllib3 would otherwise retry a dropped connection 3 more times at once, without backoff,
        # inside each of our attempts: the retry policy must be the only (bounded, jittered) one.
        cfg.retries = urllib3.Retry(total=0, raise_on_redirect=False)
        return cfg

    def check_connection(self) -> None:
        """
        Check the connection's fields without sending a request: credentials (kubeconfig, context,
        in-cluster, TLS), namespace and dashboard access.

        :raises KubeRayConnectionError: naming the connection and the field at fault.
        """
        from airflow_provider_kuberay.specs.names import validate_namespace

        with named_connection_errors("kuberay_conn_id", self.conn_id, ConfigException, OSError):
            self.api_client  # noqa: B018 -- builds the client's configuration, no request
            namespace = self.get_namespace()
            if namespace:
                validate_namespace(namespace, "namespace")
            access.check_connection_fields(self.dashboard_access, self._get_field("dashboard_url"), self.conn_id)

    def get_conn(self) -> client.ApiClient:
        """Return a Kubernetes API client configured from the connection."""
        return client.ApiClient(configuration=self._configuration())

    def namespace_or_default(self, namespace: str | None) -> str:
        """
        The namespace to use.

        :param namespace: an explicit namespace; ``None`` means the connection's, else ``default``.
        """
        return namespace or self.get_namespace() or kr.DEFAULT_NAMESPACE

    # -- transport ------------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = kr.JSON,
        timeout: tuple[float, float | None] = REQUEST_TIMEOUT,
    ) -> urllib3.BaseHTTPResponse:
        policy = self.retry_policy
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        attempt, reloaded = 0, False
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                return self.api_client.call_api(
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
                status, text = int(err.status or 0), _text(err.body) or str(err.reason or "")
                if status == 0:  # TLS failure or a request the client could not build: not transient
                    raise KubeRayApiError(f"Kubernetes API: cannot {what}: {text}") from err
                if status == 401 and not reloaded:
                    # Tokens rotate (service account, exec plugins, kubeconfig files): reload them once.
                    self.log.info("Kubernetes API answered 401 to %s; reloading the credentials", what)
                    self._configuration(self.api_client.configuration)
                    attempt, reloaded = attempt - 1, True
                    continue
                retry_after = retry_after_seconds((err.headers or {}).get("Retry-After"))
                if not kr.is_transient(status) or attempt == policy.attempts:
                    raise kr.api_error(status, text, what, attempts=attempt, retry_after=retry_after) from err
                self.log.warning("Kubernetes API answered %s to %s; retrying (%d)", status, what, attempt)
            except (urllib3.exceptions.HTTPError, OSError) as err:
                if _is_tls_failure(err):  # a certificate will not verify better on a second try
                    raise KubeRayApiError(f"Kubernetes API: TLS failure to {what}: {err!r}") from err
                if attempt == policy.attempts:
                    raise KubeRayUnavailableError(
                        f"Kubernetes API unreachable to {what} after {attempt} attempts: {err!r}"
                    ) from err
                self.log.warning("Kubernetes API unreachable to %s (%r); retrying (%d)", what, err, attempt)
            time.sleep(policy.delay(attempt, retry_after))

    def _json(self, method: str, path: str, *, what: str, **kwargs: Any) -> dict[str, Any]:
        response = self._request(method, path, what=what, **kwargs)
        try:
            text = _text(response.data)
        finally:
            response.release_conn()
        return dict(json.loads(text)) if text.strip() else {}

    # -- custom objects -------------------------------------------------------------------------
    def create_object(
        self, kind: str, body: dict[str, Any], namespace: str | None = None, *, dry_run: bool = False
    ) -> dict[str, Any]:
        """
        Create a RayCluster, RayJob or RayService.

        :param kind: ``RayCluster``, ``RayJob`` or ``RayService``.
        :param body: the object; ``apiVersion`` and ``kind`` are filled in when missing.
        :param namespace: namespace (default: the connection's).
        :param dry_run: let the API server validate it without storing it (``dryRun=All``).
        :raises KubeRayConflictError: the object exists already (also when a retried create had in fact
            succeeded: adopt the object by name).
        """
        resource, ns = kr.resource_for(kind), self.namespace_or_default(namespace)
        what = f"create {kind} {ns}/{kr.object_name(body)}" + (" (dry run)" if dry_run else "")
        query = {"dryRun": "All"} if dry_run else None
        return self._json("POST", resource.collection_path(ns), what=what, query=query, body=kr.with_kind(kind, body))

    def get_object(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        """
        Return an object.

        :raises KubeRayNotFoundError: it does not exist.
        """
        resource, ns = kr.resource_for(kind), self.namespace_or_default(namespace)
        return self._json("GET", resource.object_path(ns, name), what=f"get {kind} {ns}/{name}")

    def find_object(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """Return an object, or ``None`` when it does not exist."""
        try:
            return self.get_object(kind, name, namespace)
        except KubeRayNotFoundError:
            return None

    def patch_object(self, kind: str, name: str, patch: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """
        Apply a JSON merge patch (RFC 7386: ``None`` deletes a key, lists are replaced) and return the object.

        :raises KubeRayNotFoundError: it does not exist.
        """
        resource, ns = kr.resource_for(kind), self.namespace_or_default(namespace)
        return self._json(
            "PATCH",
            resource.object_path(ns, name),
            what=f"patch {kind} {ns}/{name}",
            body=patch,
            content_type=kr.MERGE_PATCH,
        )

    def delete_object(
        self, kind: str, name: str, namespace: str | None = None, *, propagation: str = "Foreground"
    ) -> bool:
        """
        Ask for an object's deletion; returns ``False`` if it did not exist.

        :param propagation: ``Foreground`` (dependents first), ``Background`` or ``Orphan``.
        """
        resource, ns = kr.resource_for(kind), self.namespace_or_default(namespace)
        try:
            self._json(
                "DELETE",
                resource.object_path(ns, name),
                what=f"delete {kind} {ns}/{name}",
                query={"propagationPolicy": propagation},
            )
        except KubeRayNotFoundError:
            return False
        return True

    def wait_until_deleted(
        self,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        timeout: float = 300,
        poll_interval: float = 2,
    ) -> None:
        """
        Wait until an object is gone (finalizers and foreground deletion take a while).

        :raises KubeRayTimeoutError: it still exists after ``timeout`` seconds.
        """
        ns = self.namespace_or_default(namespace)
        deadline = time.monotonic() + timeout
        while self.find_object(kind, name, ns) is not None:
            if time.monotonic() >= deadline:
                raise KubeRayTimeoutError(f"{kind} {ns}/{name} still exists {timeout:g}s after its deletion")
            time.sleep(poll_interval)

    def list_objects(
        self, kind: str, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        """
        Return the objects of a kind in a namespace.

        :param label_selector: e.g. ``app=x,tier!=web``.
        """
        resource, ns = kr.resource_for(kind), self.namespace_or_default(namespace)
        answer = self._json(
            "GET", resource.collection_path(ns), what=f"list {kind} in {ns}", query={"labelSelector": label_selector}
        )
        return list(answer.get("items") or [])

    # -- pods, logs, events, config maps --------------------------------------------------------
    def list_pods(self, namespace: str | None = None, *, label_selector: str) -> list[dict[str, Any]]:
        """
        Return the pods matching a label selector, e.g. ``ray.io/cluster=my-cluster``.

        :param label_selector: the selector (required: never list every pod of a namespace).
        """
        ns = self.namespace_or_default(namespace)
        answer = self._json(
            "GET",
            kr.core_path(ns, "pods"),
            what=f"list pods {label_selector!r} in {ns}",
            query={"labelSelector": label_selector},
        )
        return list(answer.get("items") or [])

    def read_pod_log(
        self, name: str, namespace: str | None = None, *, container: str | None = None, tail_lines: int | None = None
    ) -> str:
        """
        Return a pod's log.

        :param container: the container (needed when the pod has several).
        :param tail_lines: only the last lines.
        """
        ns = self.namespace_or_default(namespace)
        response = self._request(
            "GET",
            kr.core_path(ns, "pods", name, "log"),
            what=f"read the log of pod {ns}/{name}",
            query={"container": container, "tailLines": tail_lines},
        )
        try:
            return _text(response.data)
        finally:
            response.release_conn()

    def stream_pod_log(self, name: str, namespace: str | None = None, *, container: str | None = None) -> Iterator[str]:
        """
        Yield a pod's log lines (without line ends) as the container writes them, until it ends.

        :param container: the container (needed when the pod has several).
        """
        ns = self.namespace_or_default(namespace)
        response = self._request(
            "GET",
            kr.core_path(ns, "pods", name, "log"),
            what=f"follow the log of pod {ns}/{name}",
            query={"container": container, "follow": "true"},
            timeout=STREAM_TIMEOUT,
        )
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        try:
            for chunk in response.stream(2**16):
                pending += decoder.decode(chunk)
                *lines, pending = pending.split("\n")
                yield from lines
            pending += decoder.decode(b"", final=True)
            if pending:
                yield pending
        finally:
            response.release_conn()

    def list_events(
        self, name: str, namespace: str | None = None, *, kind: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        """
        Return the newest events about an object, oldest first; ``lastTimestamp`` is always filled.

        :param kind: the object's kind, to tell apart objects of the same name.
        :param limit: how many of the newest events to return.
        """
        ns = self.namespace_or_default(namespace)
        answer = self._json(
            "GET",
            kr.core_path(ns, "events"),
            what=f"list the events of {kind or 'object'} {ns}/{name}",
            query={"fieldSelector": kr.events_field_selector(name, kind)},
        )
        return kr.newest_events(list(answer.get("items") or []), limit)

    def create_config_map(
        self,
        name: str,
        data: dict[str, str],
        namespace: str | None = None,
        *,
        owner: dict[str, Any] | None = None,
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """
        Create a ConfigMap.

        :param owner: an object that owns it (deleted with it), e.g. the RayJob as returned by the API.
        :raises KubeRayConflictError: it exists already.
        """
        ns = self.namespace_or_default(namespace)
        body = kr.config_map_body(name, data, ns, owner, labels)
        return self._json("POST", kr.core_path(ns, "configmaps"), what=f"create ConfigMap {ns}/{name}", body=body)

    def delete_config_map(self, name: str, namespace: str | None = None) -> bool:
        """Delete a ConfigMap; returns ``False`` if it did not exist."""
        ns = self.namespace_or_default(namespace)
        try:
            self._json("DELETE", kr.core_path(ns, "configmaps", name), what=f"delete ConfigMap {ns}/{name}")
        except KubeRayNotFoundError:
            return False
        return True

    # -- dashboards -----------------------------------------------------------------------------
    def dashboard_endpoint(self, cluster_name: str, namespace: str | None = None) -> DashboardEndpoint:
        """
        How to reach the Ray dashboard of a RayCluster, following the connection's ``dashboard_access``.

        :param cluster_name: the RayCluster.
        :param namespace: its namespace (default: the connection's).
        """
        ns = self.namespace_or_default(namespace)
        mode = access.effective_mode(self.dashboard_access, in_pod=access.running_in_pod())
        service = None
        api_server = None
        if mode in ("direct", "proxy"):
            service = access.head_service_name(cluster_name, self.find_object("RayCluster", cluster_name, ns))
        if mode == "proxy":
            cfg = self.api_client.configuration
            api_server = access.access_from_configuration(cfg, cfg.auth_settings())
        endpoint = access.endpoint_for(
            mode,
            cluster_name=cluster_name,
            namespace=ns,
            service=service,
            access=api_server,
            url_template=self._get_field("dashboard_url"),
            conn_id=self.conn_id,
        )
        access.mask_endpoint_secrets(endpoint)
        return endpoint

    def test_connection(self) -> tuple[bool, str]:
        """Check that the API server answers (the connection form's Test button)."""
        try:
            version = self._json("GET", "/version", what="read the server version")
        except Exception as err:
            return False, str(err)
        return True, f"Kubernetes {version.get('gitVersion', '?')} reachable"


def _is_tls_failure(err: BaseException) -> bool:
    reason = getattr(err, "reason", None)  # urllib3's MaxRetryError wraps the cause
    return isinstance(err, urllib3.exceptions.SSLError) or isinstance(reason, urllib3.exceptions.SSLError)


def _text(data: Any) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return str(data)
