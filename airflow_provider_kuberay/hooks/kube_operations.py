"""
What the Kubernetes hooks do, written once as steps (see :mod:`~airflow_provider_kuberay.hooks.steps`):
the requests (paths, queries, bodies), what their answers mean, and the operations built on them.
:class:`KubeRayHook` performs these steps with ``kubernetes``, :class:`KubeRayAsyncHook` with
``kubernetes_asyncio``; each public method of theirs is one of these functions.
"""

from __future__ import annotations

import codecs
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, TypedDict

from airflow_provider_kuberay.exceptions import (
    KubeRayApiError,
    KubeRayNotFoundError,
    KubeRayTimeoutError,
    KubeRayUnavailableError,
)
from airflow_provider_kuberay.hooks import crd_fields
from airflow_provider_kuberay.hooks import dashboard_access as access
from airflow_provider_kuberay.hooks import kube_resources as kr
from airflow_provider_kuberay.hooks.dashboard_endpoint import DashboardEndpoint
from airflow_provider_kuberay.hooks.retry import (
    Answer,
    NoAnswer,
    Outcome,
    RetryPolicy,
    is_transient_status,
    retry_after_seconds,
)
from airflow_provider_kuberay.hooks.steps import Step, Steps, pause, send

log = logging.getLogger(__name__)

# How long a request may take: a plain request, a followed log (silent for hours), a watch.
REQUEST, STREAM, WATCH = "request", "stream", "watch"


@dataclass(frozen=True)
class KubeRequest:
    """
    One Kubernetes API request, with the rules of its answers (a :class:`~.retry.CallRules`).

    :param method: HTTP method.
    :param path: URL path.
    :param what: what it does, for messages, e.g. ``get RayJob ns/j``.
    :param query: query parameters (``None`` values are left out).
    :param body: JSON body.
    :param content_type: the body's content type.
    :param timeout: ``request``, ``stream`` or ``watch``; each hook maps it to its client's timeout.
    """

    method: str
    path: str
    what: str
    query: Mapping[str, Any] | None = None
    body: Any = None
    content_type: str = kr.JSON
    timeout: str = REQUEST

    @property
    def reloads_credentials(self) -> bool:
        """Tokens rotate (service account, exec plugins, kubeconfig files): a 401 reloads them once."""
        return True

    @property
    def label(self) -> str:
        """The request in log lines."""
        return f"Kubernetes API to {self.what}"

    def call_api_arguments(self) -> dict[str, Any]:
        """Keyword arguments of ``ApiClient.call_api`` (both client libraries), the timeout aside."""
        return {
            "query_params": [(key, str(value)) for key, value in (self.query or {}).items() if value is not None],
            "header_params": {"Accept": "application/json, */*", "Content-Type": self.content_type},
            "body": self.body,
            "auth_settings": ["BearerToken"],
            "_preload_content": False,
            "_return_http_data_only": True,
        }

    def retryable(self, answer: Answer) -> bool:
        """429 and 5xx."""
        return is_transient_status(answer.status)

    def answer_error(self, answer: Answer, attempts: int) -> Exception:
        """The API's error (404: not found, 409: conflict, 429/5xx: unavailable...) with its message."""
        return kr.api_error(answer.status, answer.text, self.what, attempts=attempts, retry_after=answer.retry_after)

    def unreachable_error(self, error: BaseException, attempts: int) -> Exception:
        """The API server did not answer."""
        return KubeRayUnavailableError(
            f"Kubernetes API unreachable to {self.what} after {attempts} attempts: {error!r}"
        )

    def tls_error(self, error: BaseException) -> Exception:
        """The TLS handshake with the API server failed."""
        return KubeRayApiError(f"Kubernetes API: TLS failure to {self.what}: {error!r}")


def api_exception_outcome(error: Any, text: str) -> Outcome:
    """
    The outcome an ``ApiException`` (either client library's) stands for.

    :param error: the exception: ``status`` 0 when no answer arrived (a TLS failure, or a request the
        client could not send), else the answer's status and ``headers``.
    :param text: its body, decoded.
    """
    status = int(error.status or 0)
    if status == 0:
        return NoAnswer(error, tls="SSL" in str(error.reason or ""))
    retry_after = (error.headers or {}).get("Retry-After")
    return Answer(status, text=text or str(error.reason or ""), retry_after=retry_after_seconds(retry_after))


class LineSplitter:
    """Cut a byte stream (a followed log) into lines of text, without their line ends."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, chunk: bytes) -> list[str]:
        """The lines completed by ``chunk``."""
        self._pending += self._decoder.decode(chunk)
        *lines, self._pending = self._pending.split("\n")
        return lines

    def end(self) -> list[str]:
        """The last line, if the stream ended without a line end."""
        last = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return [last] if last else []


# -- steps only a Kubernetes hook performs (see the hooks' methods of these names) -----------------
def read_body(response: Any) -> Step:
    """Read a successful response's body as text, and release it."""
    return Step("_read_body", (response,))


def namespace_of(namespace: str | None) -> Step:
    """The namespace to use: the given one, else the connection's, else ``default``."""
    return Step("namespace_or_default", (namespace,))


def field_of(name: str) -> Step:
    """A field of the connection (``None`` when unset)."""
    return Step("_get_field", (name,))


API_SERVER_ACCESS = Step("_api_server_access")  # the API server's address and credentials, as the client holds them


# -- operations --------------------------------------------------------------------------------------
def call_json(policy: RetryPolicy, request: KubeRequest, *, attempts: int | None = None) -> Steps[dict[str, Any]]:
    """Send a request (retried) and return its JSON answer as a dict."""
    response = yield from send(request, policy, attempts=attempts)
    text = yield read_body(response)
    return dict(json.loads(text)) if text.strip() else {}


def _items(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(answer.get("items") or [])


def crd_schema(policy: RetryPolicy, kind: str, schemas: dict[str, Any]) -> Steps[dict[str, Any] | None]:
    """
    The installed CRD's schema of ``kind``, read once per hook (``schemas`` is its cache); ``None``
    when it cannot be read (no permission to read CRDs, or no CRD): then nothing is checked.
    """
    if kind not in schemas:
        what = f"get CustomResourceDefinition {crd_fields.crd_name(kind)}"
        request = KubeRequest("GET", crd_fields.crd_path(kind), what)
        try:
            schemas[kind] = crd_fields.object_schema(kind, (yield from call_json(policy, request)))
        except KubeRayApiError as err:
            if err.http_status not in (403, 404):
                raise
            log.warning("Not checking %s fields against the installed CRD: %s", kind, err)
            schemas[kind] = None
    return schemas[kind]


def create_object(
    policy: RetryPolicy, kind: str, body: dict[str, Any], namespace: str | None, dry_run: bool, schemas: dict[str, Any]
) -> Steps[dict[str, Any]]:
    """See :meth:`KubeRayHook.create_object`; ``schemas`` caches the installed CRDs' schemas."""
    resource, ns = kr.resource_for(kind), (yield namespace_of(namespace))
    crd_fields.check_fields(kind, body, (yield from crd_schema(policy, kind, schemas)))
    what = f"create {kind} {ns}/{kr.object_name(body)}" + (" (dry run)" if dry_run else "")
    query = {"dryRun": "All"} if dry_run else None
    request = KubeRequest("POST", resource.collection_path(ns), what, query, kr.with_kind(kind, body))
    return (yield from call_json(policy, request))


def get_object(policy: RetryPolicy, kind: str, name: str, namespace: str | None) -> Steps[dict[str, Any]]:
    """See :meth:`KubeRayHook.get_object`."""
    resource, ns = kr.resource_for(kind), (yield namespace_of(namespace))
    return (yield from call_json(policy, KubeRequest("GET", resource.object_path(ns, name), f"get {kind} {ns}/{name}")))


def find_object(policy: RetryPolicy, kind: str, name: str, namespace: str | None) -> Steps[dict[str, Any] | None]:
    """See :meth:`KubeRayHook.find_object`."""
    try:
        return (yield from get_object(policy, kind, name, namespace))
    except KubeRayNotFoundError:
        return None


def patch_object(
    policy: RetryPolicy, kind: str, name: str, patch: dict[str, Any], namespace: str | None
) -> Steps[dict[str, Any]]:
    """See :meth:`KubeRayHook.patch_object`."""
    resource, ns = kr.resource_for(kind), (yield namespace_of(namespace))
    path, what = resource.object_path(ns, name), f"patch {kind} {ns}/{name}"
    return (yield from call_json(policy, KubeRequest("PATCH", path, what, body=patch, content_type=kr.MERGE_PATCH)))


def delete_object(policy: RetryPolicy, kind: str, name: str, namespace: str | None, propagation: str) -> Steps[bool]:
    """See :meth:`KubeRayHook.delete_object`."""
    resource, ns = kr.resource_for(kind), (yield namespace_of(namespace))
    path, query = resource.object_path(ns, name), {"propagationPolicy": propagation}
    return (yield from _deleted(policy, KubeRequest("DELETE", path, f"delete {kind} {ns}/{name}", query)))


def _deleted(policy: RetryPolicy, request: KubeRequest) -> Steps[bool]:
    try:
        yield from call_json(policy, request)
    except KubeRayNotFoundError:
        return False
    return True


def wait_until_deleted(
    policy: RetryPolicy, kind: str, name: str, namespace: str | None, timeout: float, poll_interval: float
) -> Steps[None]:
    """See :meth:`KubeRayHook.wait_until_deleted`."""
    ns = yield namespace_of(namespace)
    deadline = time.monotonic() + timeout
    while (yield from find_object(policy, kind, name, ns)) is not None:
        if time.monotonic() >= deadline:
            raise KubeRayTimeoutError(f"{kind} {ns}/{name} still exists {timeout:g}s after its deletion")
        yield pause(poll_interval)


def list_objects(
    policy: RetryPolicy, kind: str, namespace: str | None, label_selector: str | None
) -> Steps[list[dict[str, Any]]]:
    """See :meth:`KubeRayHook.list_objects`."""
    ns = yield namespace_of(namespace)
    items, _ = yield from list_pages(policy, list_request(kind, ns, {"labelSelector": label_selector}))
    return items


def list_workloads(policy: RetryPolicy, namespace: str | None, job_uid: str) -> Steps[list[dict[str, Any]]]:
    """See :meth:`KubeRayHook.list_workloads`."""
    ns = yield namespace_of(namespace)
    query = {"labelSelector": f"{kr.KUEUE_JOB_UID_LABEL}={job_uid}"}
    requests = [
        KubeRequest("GET", resource.collection_path(ns), f"list Kueue Workloads of job {job_uid} in {ns}", query)
        for resource in kr.KUEUE_WORKLOADS
    ]
    for request in requests[:-1]:
        try:
            return _items((yield from call_json(policy, request)))
        except KubeRayNotFoundError:  # an older Kueue: try its API version
            continue
    return _items((yield from call_json(policy, requests[-1])))  # NotFound here: no Kueue API served


def list_pods(policy: RetryPolicy, namespace: str | None, label_selector: str) -> Steps[list[dict[str, Any]]]:
    """See :meth:`KubeRayHook.list_pods`."""
    ns = yield namespace_of(namespace)
    what = f"list pods {label_selector!r} in {ns}"
    request = KubeRequest("GET", kr.core_path(ns, "pods"), what, {"labelSelector": label_selector})
    return _items((yield from call_json(policy, request)))


def pod_log_request(ns: str, name: str, container: str | None, *, tail_lines: int | None = None) -> KubeRequest:
    """Read a pod's log (``tail_lines``: its end only)."""
    query = {"container": container, "tailLines": tail_lines}
    return KubeRequest("GET", kr.core_path(ns, "pods", name, "log"), f"read the log of pod {ns}/{name}", query)


def read_pod_log(
    policy: RetryPolicy, name: str, namespace: str | None, container: str | None, tail_lines: int | None
) -> Steps[str]:
    """See :meth:`KubeRayHook.read_pod_log`."""
    ns = yield namespace_of(namespace)
    response = yield from send(pod_log_request(ns, name, container, tail_lines=tail_lines), policy)
    return str((yield read_body(response)))


def open_pod_log(
    policy: RetryPolicy, name: str, namespace: str | None, container: str | None
) -> Steps[tuple[Any, str]]:
    """
    Open a followed pod log (see :meth:`KubeRayHook.stream_pod_log`).

    :return: the client's streaming response, and what it is (for messages).
    """
    ns = yield namespace_of(namespace)
    query = {"container": container, "follow": "true"}
    what = f"follow the log of pod {ns}/{name}"
    request = KubeRequest("GET", kr.core_path(ns, "pods", name, "log"), what, query, timeout=STREAM)
    return (yield from send(request, policy)), what


def list_events(
    policy: RetryPolicy, name: str, namespace: str | None, kind: str | None, limit: int
) -> Steps[list[dict[str, Any]]]:
    """See :meth:`KubeRayHook.list_events`."""
    ns = yield namespace_of(namespace)
    what = f"list the events of {kind or 'object'} {ns}/{name}"
    query = {"fieldSelector": kr.events_field_selector(name, kind)}
    answer = yield from call_json(policy, KubeRequest("GET", kr.core_path(ns, "events"), what, query))
    return kr.newest_events(_items(answer), limit)


class ConfigMapOptions(TypedDict, total=False):
    """The keyword-only arguments of :meth:`KubeRayHook.create_config_map`."""

    owner: dict[str, Any] | None
    labels: dict[str, str] | None


def create_config_map(
    policy: RetryPolicy,
    name: str,
    data: dict[str, str],
    namespace: str | None,
    owner: dict[str, Any] | None,
    labels: dict[str, str] | None,
) -> Steps[dict[str, Any]]:
    """See :meth:`KubeRayHook.create_config_map`."""
    ns = yield namespace_of(namespace)
    body = kr.config_map_body(name, data, ns, owner, labels)
    request = KubeRequest("POST", kr.core_path(ns, "configmaps"), f"create ConfigMap {ns}/{name}", body=body)
    return (yield from call_json(policy, request))


def delete_config_map(policy: RetryPolicy, name: str, namespace: str | None) -> Steps[bool]:
    """See :meth:`KubeRayHook.delete_config_map`."""
    ns = yield namespace_of(namespace)
    return (
        yield from _deleted(
            policy, KubeRequest("DELETE", kr.core_path(ns, "configmaps", name), f"delete ConfigMap {ns}/{name}")
        )
    )


def dashboard_endpoint(
    policy: RetryPolicy, cluster_name: str, namespace: str | None, conn_id: str | None
) -> Steps[DashboardEndpoint]:
    """See :meth:`KubeRayHook.dashboard_endpoint`."""
    ns = yield namespace_of(namespace)
    chosen = access.parse_access_mode((yield field_of("dashboard_access")), conn_id)
    mode = access.effective_mode(chosen, in_pod=access.running_in_pod())
    service = api_server = cluster = None
    # ``url`` mode makes no API call: whatever fronts that URL handles its own authentication.
    if mode in ("direct", "proxy"):
        cluster = yield from find_object(policy, "RayCluster", cluster_name, ns)
        service = access.head_service_name(cluster_name, cluster)
    if mode == "proxy":
        api_server = yield API_SERVER_ACCESS
    endpoint = access.endpoint_for(
        mode,
        cluster_name=cluster_name,
        namespace=ns,
        service=service,
        access=api_server,
        url_template=(yield field_of("dashboard_url")),
        conn_id=conn_id,
    )
    source = access.ray_token_source(cluster)
    if source is not None:
        token = yield from ray_token(policy, source, ns, cluster_name, api_server, conn_id)
        endpoint = access.with_ray_token(endpoint, token, through_proxy=mode == "proxy")
    access.mask_endpoint_secrets(endpoint)
    return endpoint


def ray_token(
    policy: RetryPolicy,
    source: access.RayTokenSource,
    ns: str,
    cluster_name: str,
    api_server: access.ApiServerAccess | None,
    conn_id: str | None,
) -> Steps[str]:
    """
    The Ray token of a token-auth RayCluster: the caller's own Kubernetes bearer token with
    ``enableK8sTokenAuth``, else the one in the cluster's Secret.

    :param source: where the token comes from.
    :param ns: the RayCluster's namespace.
    :param cluster_name: its name.
    :param api_server: the client's credentials when already read (``proxy`` mode).
    :param conn_id: the connection, named in errors.
    """
    if source.kubernetes:
        held = api_server if api_server is not None else (yield API_SERVER_ACCESS)
        return access.kubernetes_bearer_token(held, f"{ns}/{cluster_name}", conn_id)
    what = f"read the Ray token of RayCluster {ns}/{cluster_name} from Secret {ns}/{source.secret}"
    found = yield from call_json(policy, KubeRequest("GET", f"/api/v1/namespaces/{ns}/secrets/{source.secret}", what))
    return access.ray_token_from_secret(found, f"{ns}/{source.secret}")


def connection_test(policy: RetryPolicy) -> Steps[tuple[bool, str]]:
    """See :meth:`KubeRayHook.test_connection`."""
    try:
        version = yield from call_json(policy, KubeRequest("GET", "/version", "read the server version"))
    except Exception as err:
        return False, str(err)
    return True, f"Kubernetes {version.get('gitVersion', '?')} reachable"


def list_request(kind: str, ns: str, selectors: Mapping[str, str | None]) -> KubeRequest:
    """List a kind's objects (a watch's first step)."""
    return KubeRequest("GET", kr.resource_for(kind).collection_path(ns), f"list {kind} in {ns}", selectors)


# A list is read in pages of this many objects (the page client-go's informers read): a triggerer's
# loop then parses one page at a time, never the JSON of thousands of objects in one piece (a
# re-list of 10,000 RayJobs stalled it for 1.8 s).
LIST_PAGE = 500


def list_pages(
    policy: RetryPolicy, request: KubeRequest, *, attempts: int | None = None
) -> Steps[tuple[list[dict[str, Any]], str | None]]:
    """
    Every object a list request selects, read page by page from one snapshot, and the snapshot's
    resourceVersion (where a watch starts). A snapshot that expired between two pages (``410``,
    minutes later) is listed again from the start, once.
    """
    items: list[dict[str, Any]] = []
    token: str | None = None
    restarted = False
    while True:
        page_request = replace(request, query={**(request.query or {}), "limit": LIST_PAGE, "continue": token})
        try:
            page = yield from call_json(policy, page_request, attempts=attempts)
        except KubeRayApiError as err:
            if err.http_status != 410 or token is None or restarted:
                raise
            items, token, restarted = [], None, True  # the snapshot expired mid-way: list again
            continue
        items.extend(_items(page))
        meta = page.get("metadata") or {}
        token = meta.get("continue") or None
        if token is None:
            return items, str(meta.get("resourceVersion") or "") or None


def watch_request(
    kind: str, ns: str, selectors: Mapping[str, str | None], version: str | None, what: str
) -> KubeRequest:
    """Watch a kind's objects from a resourceVersion (the API server ends it after ``WATCH_SECONDS``)."""
    query = {**selectors, "watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": WATCH_SECONDS}
    query["resourceVersion"] = version
    return KubeRequest("GET", kr.resource_for(kind).collection_path(ns), what, query, timeout=WATCH)


# The API server ends a watch after this; the client allows a margin beyond it.
WATCH_SECONDS = 290
