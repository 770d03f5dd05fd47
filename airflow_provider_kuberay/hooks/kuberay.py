"""The ``kuberay`` connection: reach a Kubernetes cluster that runs the KubeRay operator (sync, for workers)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import cached_property
from typing import Any, TypeVar

import urllib3
from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from airflow_provider_kuberay.hooks import dashboard_access as access
from airflow_provider_kuberay.hooks import kube_operations as ops
from airflow_provider_kuberay.hooks.connection_errors import named_connection_errors
from airflow_provider_kuberay.hooks.connection_fields import tls_off_warning
from airflow_provider_kuberay.hooks.dashboard_access import DASHBOARD_ACCESS_MODES
from airflow_provider_kuberay.hooks.dashboard_endpoint import DashboardEndpoint
from airflow_provider_kuberay.hooks.kube_client_plan import (
    KubeClientPlan,
    KubeRayConnectionMixin,
    check_connection_fields,
    connection_field,
)
from airflow_provider_kuberay.hooks.retry import Answer, NoAnswer, Outcome
from airflow_provider_kuberay.hooks.steps import Steps, run_sync

__all__ = ["DASHBOARD_ACCESS_MODES", "KubeRayHook"]

T = TypeVar("T")

# (connect, read) seconds: a plain request; a followed log may stay silent for hours.
REQUEST_TIMEOUT = (10.0, 60.0)
STREAM_TIMEOUT = (10.0, None)
_TIMEOUTS = {ops.REQUEST: REQUEST_TIMEOUT, ops.STREAM: STREAM_TIMEOUT, ops.WATCH: (10.0, ops.WATCH_SECONDS + 30.0)}


class KubeRayHook(KubeRayConnectionMixin, KubernetesHook):
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

    hook_name = "KubeRay (Kubernetes)"

    # -- connection -----------------------------------------------------------------------------
    def _get_field(self, field_name: str) -> Any:
        return connection_field(self.conn_extras, field_name)

    @property
    def dashboard_access(self) -> str:
        """How Ray dashboards are reached: ``auto``, ``proxy``, ``direct`` or ``url``."""
        return access.parse_access_mode(self._get_field("dashboard_access"), self.conn_id)

    @cached_property
    def client_plan(self) -> KubeClientPlan:
        """How the connection configures the client (read once; a bad field raises here, naming it)."""
        return KubeClientPlan.from_connection(
            self.conn_extras,
            cluster_context=self.cluster_context,
            config_file=self.config_file,
            config_dict=self.config_dict,
            in_cluster=self.in_cluster,
            disable_verify_ssl=self.disable_verify_ssl,
        )

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
        plan = self.client_plan
        self._is_in_cluster = plan.load_in_cluster(config.load_incluster_config, cfg, ConfigException)
        if not self._is_in_cluster and plan.kubeconfig is not None:
            config.load_kube_config_from_dict(plan.kubeconfig, context=plan.context, client_configuration=cfg)
        elif not self._is_in_cluster:
            config.load_kube_config(config_file=plan.kube_config_path, context=plan.context, client_configuration=cfg)
        plan.finish(cfg)
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
        with named_connection_errors("kuberay_conn_id", self.conn_id, ConfigException, OSError):
            self.api_client  # noqa: B018 -- builds the client's configuration, no request
            check_connection_fields(self.conn_extras, self.conn_id)

    def get_conn(self) -> client.ApiClient:
        """Return a Kubernetes API client configured from the connection."""
        return client.ApiClient(configuration=self._configuration())

    def namespace_or_default(self, namespace: str | None) -> str:
        """
        The namespace to use.

        :param namespace: an explicit namespace; ``None`` means the connection's, else ``default``.
        """
        return namespace or self.get_namespace() or ops.kr.DEFAULT_NAMESPACE

    # -- the steps of kube_operations, performed with the kubernetes client ---------------------
    def _run(self, steps: Steps[T]) -> T:
        return run_sync(steps, self)

    def _send_once(self, request: ops.KubeRequest) -> Outcome:
        try:
            response = self.api_client.call_api(
                request.path,
                request.method,
                _request_timeout=_TIMEOUTS[request.timeout],
                **request.call_api_arguments(),
            )
        except ApiException as err:  # the client raises for every answer but 2xx
            return ops.api_exception_outcome(err, _text(err.body))
        except (urllib3.exceptions.HTTPError, OSError) as err:
            return NoAnswer(err, tls=_is_tls_failure(err))
        return Answer(response.status, response)

    def _pause(self, seconds: float, why: str) -> None:
        if why:
            self.log.warning("%s", why)
        time.sleep(seconds)

    def _reload_credentials(self, why: str) -> None:
        self.log.info("%s", why)
        self._configuration(self.api_client.configuration)

    def _read_body(self, response: Any) -> str:
        try:
            return _text(response.data)
        finally:
            response.release_conn()

    def _api_server_access(self) -> access.ApiServerAccess:
        cfg = self.api_client.configuration
        return access.access_from_configuration(cfg, cfg.auth_settings())

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
        :raises KubeRayUnsupportedFieldError: the object has fields the installed CRD lacks (the API
            server would drop them): checked against the CRD's schema, read once per hook, before any create.
        """
        return self._run(ops.create_object(self.retry_policy, kind, body, namespace, dry_run, self.crd_schemas))

    def get_object(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        """
        Return an object.

        :raises KubeRayNotFoundError: it does not exist.
        """
        return self._run(ops.get_object(self.retry_policy, kind, name, namespace))

    def find_object(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """Return an object, or ``None`` when it does not exist."""
        return self._run(ops.find_object(self.retry_policy, kind, name, namespace))

    def patch_object(self, kind: str, name: str, patch: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """
        Apply a JSON merge patch (RFC 7386: ``None`` deletes a key, lists are replaced) and return the object.

        :raises KubeRayNotFoundError: it does not exist.
        """
        return self._run(ops.patch_object(self.retry_policy, kind, name, patch, namespace))

    def delete_object(
        self, kind: str, name: str, namespace: str | None = None, *, propagation: str = "Foreground"
    ) -> bool:
        """
        Ask for an object's deletion; returns ``False`` if it did not exist.

        :param propagation: ``Foreground`` (dependents first), ``Background`` or ``Orphan``.
        """
        return self._run(ops.delete_object(self.retry_policy, kind, name, namespace, propagation))

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
        self._run(ops.wait_until_deleted(self.retry_policy, kind, name, namespace, timeout, poll_interval))

    def list_objects(
        self, kind: str, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        """
        Return the objects of a kind in a namespace.

        :param label_selector: e.g. ``app=x,tier!=web``.
        """
        return self._run(ops.list_objects(self.retry_policy, kind, namespace, label_selector))

    # -- pods, logs, events, config maps --------------------------------------------------------
    def list_pods(self, namespace: str | None = None, *, label_selector: str) -> list[dict[str, Any]]:
        """
        Return the pods matching a label selector, e.g. ``ray.io/cluster=my-cluster``.

        :param label_selector: the selector (required: never list every pod of a namespace).
        """
        return self._run(ops.list_pods(self.retry_policy, namespace, label_selector))

    def read_pod_log(
        self, name: str, namespace: str | None = None, *, container: str | None = None, tail_lines: int | None = None
    ) -> str:
        """
        Return a pod's log.

        :param container: the container (needed when the pod has several).
        :param tail_lines: only the last lines.
        """
        return self._run(ops.read_pod_log(self.retry_policy, name, namespace, container, tail_lines))

    def stream_pod_log(self, name: str, namespace: str | None = None, *, container: str | None = None) -> Iterator[str]:
        """
        Yield a pod's log lines (without line ends) as the container writes them, until it ends.

        :param container: the container (needed when the pod has several).
        """
        response, _ = self._run(ops.open_pod_log(self.retry_policy, name, namespace, container))
        lines = ops.LineSplitter()
        try:
            for chunk in response.stream(2**16):
                yield from lines.feed(chunk)
            yield from lines.end()
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
        return self._run(ops.list_events(self.retry_policy, name, namespace, kind, limit))

    def list_workloads(self, job_uid: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """
        Return the Kueue Workloads of a job (a RayJob or RayCluster): those labelled with its uid.

        :param job_uid: the job's ``metadata.uid``.
        :param namespace: its namespace (``None``: the connection's).
        :raises KubeRayNotFoundError: when the API server serves no Kueue Workloads at all.
        """
        return self._run(ops.list_workloads(self.retry_policy, namespace, job_uid))

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
        return self._run(ops.create_config_map(self.retry_policy, name, data, namespace, owner, labels))

    def delete_config_map(self, name: str, namespace: str | None = None) -> bool:
        """Delete a ConfigMap; returns ``False`` if it did not exist."""
        return self._run(ops.delete_config_map(self.retry_policy, name, namespace))

    # -- dashboards -----------------------------------------------------------------------------
    def dashboard_endpoint(self, cluster_name: str, namespace: str | None = None) -> DashboardEndpoint:
        """
        How to reach the Ray dashboard of a RayCluster, following the connection's ``dashboard_access``.

        :param cluster_name: the RayCluster.
        :param namespace: its namespace (default: the connection's).
        """
        return self._run(ops.dashboard_endpoint(self.retry_policy, cluster_name, namespace, self.conn_id))

    def test_connection(self) -> tuple[bool, str]:
        """Check that the API server answers (the connection form's Test button)."""
        return self._run(ops.connection_test(self.retry_policy))


def _is_tls_failure(err: BaseException) -> bool:
    reason = getattr(err, "reason", None)  # urllib3's MaxRetryError wraps the cause
    return isinstance(err, urllib3.exceptions.SSLError) or isinstance(reason, urllib3.exceptions.SSLError)


def _text(data: Any) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return str(data)
