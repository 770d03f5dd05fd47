"""
A fake Kubernetes API server on 127.0.0.1 for the unit tier: real sockets, status codes, chunked
streams and websockets; behind them an in-memory store of ``ray.io/v1`` objects, pods, events and
config maps, with scriptable faults. Nothing reconciles: a test sets ``status`` itself.

    api = FakeKubeApi().start()
    hook = KubeRayHook(None, config_dict=api.kubeconfig_dict())
    ...
    api.stop()
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import aiohttp
from aiohttp import web

PLURALS = {"rayclusters": "RayCluster", "rayjobs": "RayJob", "rayservices": "RayService"}
CORE = {"pods": "Pod", "events": "Event", "configmaps": "ConfigMap"}
WATCH_POLL_SECONDS = 0.02


@dataclass
class _TlsMaterial:
    ca_pem: bytes
    server_cert_file: str
    server_key_file: str
    client_cert_pem: bytes
    client_key_pem: bytes


def _tls_material(directory: str) -> _TlsMaterial:
    """A CA; a server certificate for 127.0.0.1 and a client certificate (user ``fake``) signed by it."""
    import datetime as dt
    import ipaddress
    import os

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)

    def issue(subject: str, key: Any, issuer: Any, signer: Any, *extensions: Any) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            # Key identifiers: Python 3.13's default TLS context (VERIFY_X509_STRICT) requires them.
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
        )
        for extension in extensions:  # a CA's basic constraints are critical (RFC 5280; Python 3.13 checks)
            builder = builder.add_extension(extension, critical=isinstance(extension, x509.BasicConstraints))
        return builder.sign(signer, hashes.SHA256())

    def key_pem(key: Any) -> bytes:
        return bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )

    pem = serialization.Encoding.PEM
    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-kube-ca")])
    ca_usage = x509.KeyUsage(True, False, False, False, False, True, True, False, False)  # signs certs and CRLs
    ca = issue("fake-kube-ca", ca_key, ca_name, ca_key, x509.BasicConstraints(ca=True, path_length=None), ca_usage)
    server = issue(
        "127.0.0.1",
        server_key,
        ca_name,
        ca_key,
        x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
    )
    client = issue("fake", client_key, ca_name, ca_key, x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]))
    cert_file, key_file = os.path.join(directory, "server.crt"), os.path.join(directory, "server.key")
    with open(cert_file, "wb") as f:
        f.write(server.public_bytes(pem))
    with open(key_file, "wb") as f:
        f.write(key_pem(server_key))
    return _TlsMaterial(ca.public_bytes(pem), cert_file, key_file, client.public_bytes(pem), key_pem(client_key))


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _status_response(code: int, reason: str, message: str) -> web.Response:
    return web.json_response(_status(code, reason, message), status=code)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def matches_labels(labels: dict[str, str], selector: str | None) -> bool:
    """Equality-based label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``, comma-separated."""
    for term in (t.strip() for t in (selector or "").split(",")):
        if not term:
            continue
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _field_selector(selector: str | None) -> dict[str, str]:
    terms = {}
    for term in (selector or "").split(","):
        if "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            terms[key.strip()] = value.strip()
    return terms


def _field(document: dict[str, Any], dotted: str) -> Any:
    value: Any = document
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


@dataclass
class WatchEvent:
    resource_version: int
    type: str
    kind: str
    namespace: str
    obj: dict[str, Any]


@dataclass
class _Fault:
    prefix: str
    status: int
    times: int
    method: str | None = None
    retry_after: str | None = None


@dataclass
class FakePodLog:
    text: str = ""
    chunks: list[str] = field(default_factory=list)
    delay: float = 0.01


class FakeKubeApi:
    """
    The API routes the KubeRay hooks use.

    Scripting: :meth:`set_status`, :meth:`add_pod`, :meth:`add_event`, :meth:`fail_next`,
    :meth:`expire_watch_history` (watches from an older resourceVersion get ``410 Gone``),
    :meth:`end_watches` (open watch streams end, as the API server's timeout does),
    :meth:`hold_deletion` (an object stays with a deletionTimestamp for a few reads),
    :meth:`add_service_proxy` (a service's proxy path forwards to a URL, websockets included),
    :attr:`crds` (CustomResourceDefinitions by name, read by the hooks' field check; none by default).
    Inspection: :attr:`objects` keyed by ``(kind, namespace, name)``, :attr:`requests` as
    ``(method, path, query)``, :meth:`calls`.
    """

    def __init__(self, *, token: str | None = None, namespace: str = "default", tls: bool = False) -> None:
        self.tls = tls
        self.ca_pem = b""
        self.token = token or "fake-token-" + secrets.token_hex(8)
        self.namespace = namespace
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.pod_logs: dict[tuple[str, str], FakePodLog] = {}
        self.history: list[WatchEvent] = []
        self.proxies: dict[tuple[str, str], str] = {}
        # CustomResourceDefinitions by name (e.g. rayjobs.ray.io) the API serves; none by default.
        self.crds: dict[str, dict[str, Any]] = {}
        self.require_auth = True
        self._faults: list[_Fault] = []
        self._held: dict[tuple[str, str, str], int] = {}
        self._rv = itertools.count(1000)
        self._last_rv = 999
        self._oldest_rv = 0
        self._watch_generation = 0
        self._expire_generation = 0
        self._bookmark_generation = 0
        self.gone_as_http = False
        # Continued list pages (``continue`` token) answered ``410 Gone`` before the next ones succeed.
        self.expired_list_pages = 0
        self._lock = threading.RLock()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def kubeconfig_dict(
        self, namespace: str | None = None, *, with_ca: bool = True, client_cert: bool = False
    ) -> dict[str, Any]:
        """
        A kubeconfig reaching this server with its bearer token (and, with TLS, its CA unless told not to);
        ``client_cert=True`` (TLS only): authenticate with a client certificate instead of the token.
        """
        import base64

        context: dict[str, Any] = {"cluster": "fake", "user": "fake"}
        if namespace:
            context["namespace"] = namespace
        cluster: dict[str, Any] = {"server": self.url}
        if self.tls and with_ca:
            cluster["certificate-authority-data"] = base64.b64encode(self.ca_pem).decode()
        user: dict[str, Any] = {"token": self.token}
        if client_cert:
            if not self.tls:
                raise ValueError("client certificates need FakeKubeApi(tls=True)")
            user = {
                "client-certificate-data": base64.b64encode(self._tls_material.client_cert_pem).decode(),
                "client-key-data": base64.b64encode(self._tls_material.client_key_pem).decode(),
            }
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": cluster}],
            "users": [{"name": "fake", "user": user}],
            "contexts": [{"name": "fake", "context": context}],
            "current-context": "fake",
        }

    def connection_json(self, **extra: Any) -> str:
        """
        A ``kuberay`` connection reaching this server with an inline kubeconfig, as JSON for an
        ``AIRFLOW_CONN_<ID>`` environment variable; ``extra`` adds fields (namespace, dashboard_access...).
        """
        fields = {"kube_config": json.dumps(self.kubeconfig_dict()), **extra}
        return json.dumps({"conn_type": "kuberay", "extra": fields})

    def start(self) -> FakeKubeApi:
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)

            async def boot() -> None:
                self._runner = web.AppRunner(self._app(), handler_cancellation=True, access_log=None)
                await self._runner.setup()
                site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._server_tls())
                await site.start()
                self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
                ready.set()

            self._loop.run_until_complete(boot())
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, daemon=True, name="fake-kube-api")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake Kubernetes API did not start")
        return self

    def _server_tls(self) -> Any:
        if not self.tls:
            return None
        import ssl
        import tempfile

        self._tls_dir = tempfile.TemporaryDirectory(prefix="fake-kube-tls-")
        self._tls_material = _tls_material(self._tls_dir.name)
        self.ca_pem = self._tls_material.ca_pem
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self._tls_material.server_cert_file, self._tls_material.server_key_file)
        # Clients may authenticate with a certificate signed by the CA (the kubeconfig's client-certificate).
        context.load_verify_locations(cadata=self.ca_pem.decode())
        context.verify_mode = ssl.CERT_OPTIONAL
        return context

    def stop(self) -> None:
        self.end_watches()

        async def shutdown() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if self.tls:
            self._tls_dir.cleanup()

    # -- scripting ------------------------------------------------------------------------------
    def fail_next(
        self,
        path_prefix: str,
        status: int,
        times: int = 1,
        *,
        method: str | None = None,
        retry_after: str | None = None,
    ) -> None:
        """
        The next ``times`` requests under ``path_prefix`` get ``status`` (0: the connection is dropped),
        with a ``Retry-After`` header when ``retry_after`` is given.
        """
        with self._lock:
            self._faults.append(_Fault(path_prefix, status, times, method, retry_after))

    def clear_faults(self) -> None:
        """Drop every scripted fault not yet used."""
        with self._lock:
            self._faults.clear()

    def put_object(self, kind: str, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Store an object as if created through the API (an ADDED watch event included)."""
        ns = namespace or (body.get("metadata") or {}).get("namespace") or self.namespace
        body = {"apiVersion": "ray.io/v1" if kind in PLURALS.values() else "v1", "kind": kind, **body}
        with self._lock:
            obj = self._new_object(kind, ns, body)
            self.objects[(kind, ns, obj["metadata"]["name"])] = obj
            self._record(obj, "ADDED", kind, ns)
            return copy.deepcopy(obj)

    def set_status(self, kind: str, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        """Replace an object's ``status`` (a MODIFIED watch event)."""
        with self._lock:
            obj = self.objects[(kind, namespace, name)]
            obj["status"] = copy.deepcopy(status)
            self._bump(obj)
            self._record(obj, "MODIFIED", kind, namespace)
            return copy.deepcopy(obj)

    def remove_object(self, kind: str, namespace: str, name: str) -> None:
        """Delete an object now (a DELETED watch event), as the garbage collector would."""
        with self._lock:
            obj = self.objects.pop((kind, namespace, name))
            self._bump(obj)
            self._record(obj, "DELETED", kind, namespace)

    def hold_deletion(self, kind: str, namespace: str, name: str, reads: int = 2) -> None:
        """After a DELETE, the object stays (with a deletionTimestamp) for ``reads`` more GETs."""
        self._held[(kind, namespace, name)] = reads

    def add_pod(
        self,
        name: str,
        namespace: str | None = None,
        *,
        labels: dict[str, str] | None = None,
        phase: str = "Running",
        containers: list[str] | None = None,
        log: str = "",
        log_chunks: list[str] | None = None,
        status: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add a pod; its log is ``log`` (followed: ``log_chunks`` one by one, then the stream ends)."""
        ns = namespace or self.namespace
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": dict(labels or {})},
            "spec": {"containers": [{"name": c, "image": "rayproject/ray"} for c in (containers or ["ray-head"])]},
            "status": status or {"phase": phase},
        }
        chunks = list(log_chunks or ([log] if log else []))
        self.pod_logs[(ns, name)] = FakePodLog(text=log or "".join(chunks), chunks=chunks)
        return self.put_object("Pod", body, ns)

    def add_event(
        self,
        involved_name: str,
        reason: str,
        message: str,
        *,
        namespace: str | None = None,
        kind: str = "RayCluster",
        type: str = "Normal",
        last_timestamp: str | None = None,
    ) -> dict[str, Any]:
        """Add an Event about an object."""
        ns = namespace or self.namespace
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{involved_name}.{uuid.uuid4().hex[:12]}", "namespace": ns},
            "involvedObject": {"kind": kind, "name": involved_name, "namespace": ns},
            "reason": reason,
            "message": message,
            "type": type,
            "lastTimestamp": last_timestamp or _now(),
        }
        return self.put_object("Event", body, ns)

    def add_service_proxy(self, namespace: str, service: str, target_url: str, port_name: str = "dashboard") -> None:
        """Route ``/api/v1/namespaces/NS/services/SVC:PORT/proxy/...`` to ``target_url``."""
        self.proxies[(namespace, f"{service}:{port_name}")] = target_url.rstrip("/")

    def expire_watch_history(self) -> None:
        """
        Forget the event history: open watches get an ERROR event ``410 Gone`` and end; new watches
        from an earlier resourceVersion too (or an HTTP 410 answer when :attr:`gone_as_http` is set).
        """
        with self._lock:
            self._oldest_rv = self._last_rv
            self._expire_generation += 1

    def send_bookmarks(self) -> None:
        """Open watches (that allow bookmarks) get a BOOKMARK event carrying the current resourceVersion."""
        with self._lock:
            self._bookmark_generation += 1

    def end_watches(self) -> None:
        """End every open watch stream (clients must resume from their last resourceVersion)."""
        with self._lock:
            self._watch_generation += 1

    def calls(self, method: str | None = None, path_prefix: str = "") -> list[tuple[str, str, dict[str, str]]]:
        """Recorded requests, filtered by method and path prefix."""
        return [r for r in self.requests if (method is None or r[0] == method) and r[1].startswith(path_prefix)]

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self.objects.get((kind, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    # -- store internals ------------------------------------------------------------------------
    def _next_rv(self) -> str:
        self._last_rv = next(self._rv)
        return str(self._last_rv)

    def _bump(self, obj: dict[str, Any]) -> None:
        obj["metadata"]["resourceVersion"] = self._next_rv()

    def _new_object(self, kind: str, ns: str, body: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        meta["namespace"] = ns
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        meta.setdefault("generation", 1)
        meta["resourceVersion"] = self._next_rv()
        return obj

    def _record(self, obj: dict[str, Any], type_: str, kind: str, ns: str) -> None:
        rv = int(obj["metadata"]["resourceVersion"])
        self.history.append(WatchEvent(rv, type_, kind, ns, copy.deepcopy(obj)))

    # -- server ---------------------------------------------------------------------------------
    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._record_fault_auth])
        app.router.add_get("/version", self._version)
        app.router.add_get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}", self._crd_get)
        crd = "/apis/ray.io/v1/namespaces/{ns}/{plural}"
        app.router.add_get(crd, self._cr_list)
        app.router.add_post(crd, self._cr_create)
        app.router.add_get(crd + "/{name}", self._cr_get)
        app.router.add_patch(crd + "/{name}", self._cr_patch)
        app.router.add_delete(crd + "/{name}", self._cr_delete)
        core = "/api/v1/namespaces/{ns}"
        app.router.add_get(core + "/pods", self._pods)
        app.router.add_get(core + "/pods/{name}/log", self._pod_log)
        app.router.add_get(core + "/events", self._events)
        app.router.add_post(core + "/configmaps", self._cm_create)
        app.router.add_get(core + "/configmaps/{name}", self._cm_get)
        app.router.add_delete(core + "/configmaps/{name}", self._cm_delete)
        # Kueue's Workloads (put_object("Workload", ...)), at the API version Kueue 0.15+ serves first.
        app.router.add_get("/apis/kueue.x-k8s.io/v1beta2/namespaces/{ns}/workloads", self._workloads)
        app.router.add_route("*", core + "/services/{svc}/proxy", self._proxy)
        app.router.add_route("*", core + "/services/{svc}/proxy/{tail:.*}", self._proxy)
        return app

    @web.middleware
    async def _record_fault_auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path, dict(request.query)))
        with self._lock:
            fault = next(
                (
                    f
                    for f in self._faults
                    if f.times > 0 and request.path.startswith(f.prefix) and f.method in (None, request.method)
                ),
                None,
            )
            if fault is not None:
                fault.times -= 1
        if fault is not None:
            if fault.status == 0:
                assert request.transport is not None
                request.transport.close()  # a reset: no answer at all
                raise asyncio.CancelledError
            reason = {429: "TooManyRequests", 410: "Expired"}.get(fault.status, "InternalError")
            response = _status_response(fault.status, reason, f"scripted failure {fault.status}")
            if fault.retry_after is not None:
                response.headers["Retry-After"] = fault.retry_after
            return response
        if self.require_auth and not self._authenticated(request):
            return _status_response(401, "Unauthorized", "Unauthorized")
        return await handler(request)

    def _authenticated(self, request: web.Request) -> bool:
        if request.headers.get("Authorization") == f"Bearer {self.token}":
            return True
        # With TLS, the handshake already verified any client certificate against the CA.
        peer = request.transport.get_extra_info("peercert") if request.transport is not None else None
        return bool(peer)

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"major": "1", "minor": "33", "gitVersion": "v1.33.0-fake"})

    async def _crd_get(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.crds:
            message = f'customresourcedefinitions.apiextensions.k8s.io "{name}" not found'
            return _status_response(404, "NotFound", message)
        return web.json_response(self.crds[name])

    def _kind(self, request: web.Request) -> str:
        plural = request.match_info["plural"]
        if plural not in PLURALS:
            raise web.HTTPNotFound(text=json.dumps(_status(404, "NotFound", f"the server could not find {plural}")))
        return PLURALS[plural]

    def _not_found(self, kind: str, name: str) -> web.Response:
        resource = next((p for p, k in PLURALS.items() if k == kind), kind.lower() + "s")
        group = ".ray.io" if kind in PLURALS.values() else ""
        return _status_response(404, "NotFound", f'{resource}{group} "{name}" not found')

    def _selected(self, kind: str, ns: str, request: web.Request) -> list[dict[str, Any]]:
        labels = request.query.get("labelSelector")
        fields = _field_selector(request.query.get("fieldSelector"))
        found = []
        for (k, n, _), obj in sorted(self.objects.items()):
            if k != kind or n != ns:
                continue
            if not matches_labels((obj.get("metadata") or {}).get("labels") or {}, labels):
                continue
            if any(_field(obj, key) != value for key, value in fields.items()):
                continue
            found.append(copy.deepcopy(obj))
        return found

    async def _cr_list(self, request: web.Request) -> web.StreamResponse:
        kind, ns = self._kind(request), request.match_info["ns"]
        if request.query.get("watch") in ("true", "1"):
            return await self._watch(request, kind, ns)
        with self._lock:
            items = self._selected(kind, ns, request)
            rv = str(self._last_rv)
            token = request.query.get("continue")
            if token and self.expired_list_pages > 0:
                self.expired_list_pages -= 1
                return _status_response(410, "Expired", "The provided continue parameter is too old")
        metadata: dict[str, Any] = {"resourceVersion": rv}
        limit, start = int(request.query.get("limit") or 0), int(token or 0)
        if limit:  # pages as the API server gives them: the token says where the next one starts
            items, rest = items[start : start + limit], items[start + limit :]
            if rest:
                metadata["continue"] = str(start + limit)
        listing = {"apiVersion": "ray.io/v1", "kind": f"{kind}List", "metadata": metadata, "items": items}
        return web.json_response(listing)

    async def _watch(self, request: web.Request, kind: str, ns: str) -> web.StreamResponse:
        since = int(request.query.get("resourceVersion") or 0)
        timeout = float(request.query.get("timeoutSeconds") or 3600)
        with self._lock:
            generation, expired, bookmarks = self._watch_generation, self._expire_generation, self._bookmark_generation
            too_old = bool(since) and since < self._oldest_rv
        allow_bookmarks = request.query.get("allowWatchBookmarks") == "true"
        if too_old and self.gone_as_http:
            return _status_response(410, "Expired", f"too old resource version: {since} ({self._oldest_rv})")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        deadline = time.monotonic() + timeout
        sent = since
        while time.monotonic() < deadline:
            with self._lock:
                if self._watch_generation != generation:
                    break
                if too_old or self._expire_generation != expired:
                    # The API server tells a watcher its resourceVersion is gone with an ERROR event.
                    pending = [("ERROR", _status(410, "Expired", f"too old resource version: {sent}"))]
                else:
                    pending = []
                    for event in self.history:
                        if event.resource_version <= sent or event.kind != kind or event.namespace != ns:
                            continue
                        if self._event_matches(event, request):
                            pending.append((event.type, event.obj))
                    sent = max(sent, self._last_rv)
                    if self._bookmark_generation != bookmarks:
                        bookmarks = self._bookmark_generation
                        if allow_bookmarks:
                            mark = {"kind": kind, "apiVersion": "ray.io/v1", "metadata": {"resourceVersion": str(sent)}}
                            pending.append(("BOOKMARK", mark))
            for type_, obj in pending:
                await response.write(json.dumps({"type": type_, "object": obj}).encode() + b"\n")
            if pending and pending[-1][0] == "ERROR":
                break
            await asyncio.sleep(WATCH_POLL_SECONDS)
        await response.write_eof()
        return response

    @staticmethod
    def _event_matches(event: WatchEvent, request: web.Request) -> bool:
        meta = event.obj.get("metadata") or {}
        fields = _field_selector(request.query.get("fieldSelector"))
        if "metadata.name" in fields and meta.get("name") != fields["metadata.name"]:
            return False
        return matches_labels(meta.get("labels") or {}, request.query.get("labelSelector"))

    async def _cr_create(self, request: web.Request) -> web.Response:
        kind, ns = self._kind(request), request.match_info["ns"]
        body = await request.json()
        name = (body.get("metadata") or {}).get("name")
        if not name:
            return _status_response(422, "Invalid", f"{kind}.ray.io is invalid: metadata.name: Required value")
        if body.get("kind") != kind or body.get("apiVersion") != "ray.io/v1":
            return _status_response(400, "BadRequest", f"the object is not a ray.io/v1 {kind}")
        with self._lock:
            if (kind, ns, name) in self.objects:
                plural = next(p for p, k in PLURALS.items() if k == kind)
                return _status_response(409, "AlreadyExists", f'{plural}.ray.io "{name}" already exists')
            if request.query.get("dryRun") == "All":
                obj = copy.deepcopy(body)
                obj.setdefault("metadata", {})["namespace"] = ns
                return web.json_response(obj, status=201)
            obj = self._new_object(kind, ns, body)
            self.objects[(kind, ns, name)] = obj
            self._record(obj, "ADDED", kind, ns)
            return web.json_response(copy.deepcopy(obj), status=201)

    async def _cr_get(self, request: web.Request) -> web.Response:
        kind, ns, name = self._kind(request), request.match_info["ns"], request.match_info["name"]
        with self._lock:
            key = (kind, ns, name)
            obj = self.objects.get(key)
            if obj is None:
                return self._not_found(kind, name)
            answer = copy.deepcopy(obj)
            if key in self._held and obj["metadata"].get("deletionTimestamp"):
                self._held[key] -= 1
                if self._held[key] <= 0:
                    del self._held[key]
                    self.remove_object(kind, ns, name)
            return web.json_response(answer)

    async def _cr_patch(self, request: web.Request) -> web.Response:
        kind, ns, name = self._kind(request), request.match_info["ns"], request.match_info["name"]
        if request.content_type != "application/merge-patch+json":
            return _status_response(415, "UnsupportedMediaType", f"unsupported patch type {request.content_type}")
        patch = await request.json()
        with self._lock:
            obj = self.objects.get((kind, ns, name))
            if obj is None:
                return self._not_found(kind, name)
            patched = merge_patch(obj, patch)
            patched["metadata"]["name"], patched["metadata"]["uid"] = name, obj["metadata"]["uid"]
            if patched.get("spec") != obj.get("spec"):
                patched["metadata"]["generation"] = int(obj["metadata"].get("generation", 1)) + 1
            self._bump(patched)
            self.objects[(kind, ns, name)] = patched
            self._record(patched, "MODIFIED", kind, ns)
            return web.json_response(copy.deepcopy(patched))

    async def _cr_delete(self, request: web.Request) -> web.Response:
        kind, ns, name = self._kind(request), request.match_info["ns"], request.match_info["name"]
        with self._lock:
            key = (kind, ns, name)
            obj = self.objects.get(key)
            if obj is None:
                return self._not_found(kind, name)
            if key in self._held:
                obj["metadata"]["deletionTimestamp"] = _now()
                self._bump(obj)
                self._record(obj, "MODIFIED", kind, ns)
                return web.json_response(copy.deepcopy(obj), status=202)
            self.remove_object(kind, ns, name)
            return web.json_response(
                {"kind": "Status", "apiVersion": "v1", "status": "Success", "details": {"name": name, "kind": kind}}
            )

    async def _pods(self, request: web.Request) -> web.Response:
        with self._lock:
            items = self._selected("Pod", request.match_info["ns"], request)
        return web.json_response({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})

    async def _workloads(self, request: web.Request) -> web.Response:
        with self._lock:
            items = self._selected("Workload", request.match_info["ns"], request)
        return web.json_response({"kind": "WorkloadList", "apiVersion": "kueue.x-k8s.io/v1beta2", "items": items})

    async def _pod_log(self, request: web.Request) -> web.StreamResponse:
        ns, name = request.match_info["ns"], request.match_info["name"]
        log = self.pod_logs.get((ns, name))
        if log is None:
            return _status_response(404, "NotFound", f'pods "{name}" not found')
        if request.query.get("follow") != "true":
            text = log.text
            if "tailLines" in request.query:
                lines = text.splitlines(keepends=True)
                tail = int(request.query["tailLines"])
                text = "".join(lines[-tail:]) if tail > 0 else ""
            return web.Response(text=text, content_type="text/plain")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for chunk in log.chunks:
            await response.write(chunk.encode())
            await asyncio.sleep(log.delay)
        await response.write_eof()
        return response

    async def _events(self, request: web.Request) -> web.Response:
        with self._lock:
            items = self._selected("Event", request.match_info["ns"], request)
        return web.json_response({"kind": "EventList", "apiVersion": "v1", "metadata": {}, "items": items})

    async def _cm_create(self, request: web.Request) -> web.Response:
        ns, body = request.match_info["ns"], await request.json()
        name = body["metadata"]["name"]
        with self._lock:
            if ("ConfigMap", ns, name) in self.objects:
                return _status_response(409, "AlreadyExists", f'configmaps "{name}" already exists')
        return web.json_response(self.put_object("ConfigMap", body, ns), status=201)

    async def _cm_get(self, request: web.Request) -> web.Response:
        obj = self.get("ConfigMap", request.match_info["ns"], request.match_info["name"])
        if obj is None:
            return self._not_found("ConfigMap", request.match_info["name"])
        return web.json_response(obj)

    async def _cm_delete(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        with self._lock:
            if ("ConfigMap", ns, name) not in self.objects:
                return self._not_found("ConfigMap", name)
            self.remove_object("ConfigMap", ns, name)
        return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Success"})

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        target = self.proxies.get((request.match_info["ns"], request.match_info["svc"]))
        if target is None:
            return _status_response(
                503, "ServiceUnavailable", f"no endpoints available for service {request.match_info['svc']!r}"
            )
        url = target + "/" + request.match_info.get("tail", "")
        if request.query_string:
            url += "?" + request.query_string
        # Like the API server: the caller's credentials stay here, they are not forwarded.
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "authorization")}
        async with aiohttp.ClientSession() as session:
            if request.headers.get("Upgrade", "").lower() == "websocket":
                return await self._proxy_websocket(request, session, url)
            async with session.request(request.method, url, headers=headers, data=await request.read()) as upstream:
                body = await upstream.read()
                return web.Response(
                    status=upstream.status, body=body, content_type=upstream.content_type, charset=upstream.charset
                )

    @staticmethod
    async def _proxy_websocket(request: web.Request, session: aiohttp.ClientSession, url: str) -> web.StreamResponse:
        downstream = web.WebSocketResponse()
        await downstream.prepare(request)
        async with session.ws_connect("ws" + url[len("http") :]) as upstream:
            async for message in upstream:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await downstream.send_str(message.data)
                elif message.type == aiohttp.WSMsgType.BINARY:
                    await downstream.send_bytes(message.data)
                else:
                    break
        await downstream.close()
        return downstream


def running_fake_kube_api(**kwargs: Any) -> Iterator[FakeKubeApi]:
    """Generator body for a pytest fixture."""
    fake = FakeKubeApi(**kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()
