"""
A fault-injecting HTTPS proxy on 127.0.0.1 in front of a real Kubernetes API server.

It terminates TLS with a certificate for 127.0.0.1 signed by a CA of its own (the kubeconfig it
writes trusts that CA: verification stays on), and forwards every request to the real server over
TLS verified against the real server's CA, with the client's own credentials (its bearer token; a
client certificate of the original kubeconfig is presented upstream by the proxy).

Faults are scripted per test and matched in order; each applies to the next ``times`` matching
requests (``None``: for ever)::

    proxy = FaultProxy(kubeconfig_path).start()
    proxy.add(Fault("status", status=429, retry_after="1", method="POST", path=r"/rayclusters$"))
    proxy.add(Fault("cut", watch=True, after_events=1, times=None))
    ... use proxy.kubeconfig ...
    proxy.injected()  # {"status": 1, "cut": 4}
    proxy.stop()

Actions: ``status`` (answer ``status`` with a Kubernetes ``Status`` body, optionally ``Retry-After``),
``reset`` (abort the connection with a TCP RST, before forwarding or, with ``after_forward``,
after the real server acted: the answer is lost), ``delay`` (wait ``delay`` seconds, then forward),
``cut`` (forward a stream -- a watch, a followed log -- then abort it after ``after_events``
lines or ``after_seconds``), ``stall`` (answer 200 and then send nothing, holding the stream open),
and ``gone`` (a watch gets ``after_events`` real events and then an ``ERROR`` event with code 410,
as the API server sends for an expired resourceVersion; any other request gets HTTP 410).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import ipaddress
import json
import logging
import re
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from yarl import URL

ACTIONS = ("status", "reset", "delay", "cut", "gone", "stall")
_REASONS = {
    410: "Expired",
    429: "TooManyRequests",
    500: "InternalError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "Timeout",
}
# Hop-by-hop and length headers are the proxy's own business on each side.
# The body passes through as the server encoded it, so the client's Accept-Encoding goes up and the
# server's Content-Encoding comes back (aiohttp adds no Accept-Encoding of its own: a client that asked
# for none, like the kubernetes client, gets a large answer, e.g. a CRD, uncompressed as without the proxy).
_SKIP_REQUEST = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}
_SKIP_RESPONSE = {"content-length", "transfer-encoding", "connection", "keep-alive"}


@dataclass
class Fault:
    """
    One scripted fault.

    :param action: ``status``, ``reset``, ``delay``, ``cut``, ``stall`` or ``gone``.
    :param method: only requests with this HTTP method (``None``: any).
    :param path: a regular expression searched in the request path (without the query).
    :param watch: ``True``: only watch requests; ``False``: never watch requests; ``None``: both.
    :param times: how many matching requests get it (``None``: every one, for ever).
    :param status: the HTTP status of a ``status`` fault.
    :param retry_after: the ``Retry-After`` header of a ``status`` fault.
    :param delay: seconds a ``delay`` fault holds the request before forwarding it.
    :param after_forward: a ``reset`` fault lets the real server act first, then drops its answer.
    :param after_events: ``cut`` / ``gone``: how many real watch events (or log lines) pass first.
    :param after_seconds: ``cut``: abort the stream after this long even without events.
    """

    action: str
    method: str | None = None
    path: str = ""
    watch: bool | None = None
    times: int | None = 1
    status: int = 503
    retry_after: str | None = None
    delay: float = 0.0
    after_forward: bool = False
    after_events: int = 0
    after_seconds: float | None = None
    injected: int = 0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown fault action {self.action!r}")

    def matches(self, method: str, path: str, watch: bool) -> bool:
        if self.times is not None and self.injected >= self.times:
            return False
        if self.method is not None and self.method != method:
            return False
        if self.watch is not None and self.watch != watch:
            return False
        return re.search(self.path, path) is not None


@dataclass(frozen=True)
class Seen:
    """A request the proxy received: when, what, and the fault it got (``None``: passed through)."""

    at: float
    method: str
    path: str
    watch: bool
    fault: str | None


@dataclass
class _Upstream:
    server: str
    ssl: ssl.SSLContext | bool
    user: dict[str, Any] = field(default_factory=dict)
    namespace: str | None = None


def _read_bytes(cluster_or_user: dict[str, Any], key: str, base: Path) -> bytes | None:
    data = cluster_or_user.get(f"{key}-data")
    if data:
        return base64.b64decode(data)
    path = cluster_or_user.get(key)
    if path:
        file = Path(path)
        return (file if file.is_absolute() else base / file).read_bytes()
    return None


def _upstream(kubeconfig: str, work: Path) -> _Upstream:
    """The real server, its TLS context and the user of the kubeconfig's current context."""
    doc = yaml.safe_load(Path(kubeconfig).read_text())
    base = Path(kubeconfig).parent
    context_name = doc.get("current-context") or doc["contexts"][0]["name"]
    context = next(c["context"] for c in doc["contexts"] if c["name"] == context_name)
    cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == context["cluster"])
    user = next((u.get("user") or {} for u in doc.get("users") or [] if u["name"] == context.get("user")), {})
    server = str(cluster["server"]).rstrip("/")
    if not server.startswith("https://"):
        return _Upstream(server, False, user, context.get("namespace"))
    tls = ssl.create_default_context()
    ca = _read_bytes(cluster, "certificate-authority", base)
    if ca is not None:
        tls.load_verify_locations(cadata=ca.decode())
    if cluster.get("insecure-skip-tls-verify"):
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    cert, key = _read_bytes(user, "client-certificate", base), _read_bytes(user, "client-key", base)
    if cert is not None and key is not None:
        (work / "upstream-client.crt").write_bytes(cert)
        (work / "upstream-client.key").write_bytes(key)
        tls.load_cert_chain(work / "upstream-client.crt", work / "upstream-client.key")
    return _Upstream(server, tls, user, context.get("namespace"))


def _proxy_certificate(work: Path) -> tuple[bytes, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it: (CA PEM, cert file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fault-proxy-ca")])

    def build(subject: x509.Name, public: Any) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            # Key identifiers: Python 3.13's default TLS context (VERIFY_X509_STRICT) requires them.
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )

    ca = (
        build(ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        build(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fault-proxy")]), key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = work / "proxy.crt", work / "proxy.key"
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    return ca.public_bytes(serialization.Encoding.PEM), cert_file, key_file


def _status_body(code: int, message: str, retry_after: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": _REASONS.get(code, "InternalError"),
        "code": code,
    }
    if retry_after is not None and retry_after.isdigit():
        body["details"] = {"retryAfterSeconds": int(retry_after)}
    return body


def _reset(request: web.Request) -> None:
    """Drop the client's connection with a TCP RST (SO_LINGER 0), no answer, no TLS close."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class FaultProxy:
    """
    The proxy, served from a thread of its own on 127.0.0.1.

    :param kubeconfig: the kubeconfig of the real API server (its current context).
    """

    def __init__(self, kubeconfig: str) -> None:
        self._work = tempfile.TemporaryDirectory(prefix="fault-proxy-")
        work = Path(self._work.name)
        self._upstream = _upstream(kubeconfig, work)
        self._ca_pem, cert, key = _proxy_certificate(work)
        self._server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._server_tls.load_cert_chain(cert, key)
        self.kubeconfig = str(work / "proxied.kubeconfig")
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.seen: list[Seen] = []
        # Every fault injected since the start, by action (never cleared).
        self.total: Counter[str] = Counter()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    # -- scripting ------------------------------------------------------------------------------
    def add(self, *faults: Fault) -> None:
        """Script faults (matched in the order added)."""
        with self._lock:
            self._faults.extend(faults)

    def clear(self) -> None:
        """Remove every scripted fault and forget the requests seen (:attr:`total` stays)."""
        with self._lock:
            self._faults.clear()
            self.seen.clear()

    def injected(self) -> Counter[str]:
        """How many faults of each action were injected since the last :meth:`clear`."""
        with self._lock:
            return Counter(s.fault for s in self.seen if s.fault is not None)

    def requests(self, method: str | None = None, path: str = "", *, watch: bool | None = None) -> list[Seen]:
        """The requests seen since the last :meth:`clear`, filtered like a :class:`Fault`."""
        with self._lock:
            return [
                s
                for s in self.seen
                if (method is None or s.method == method)
                and (watch is None or s.watch == watch)
                and re.search(path, s.path) is not None
            ]

    def _take(self, method: str, path: str, watch: bool) -> Fault | None:
        with self._lock:
            fault = next((f for f in self._faults if f.matches(method, path, watch)), None)
            if fault is not None:
                fault.injected += 1
                self.total[fault.action] += 1
            self.seen.append(Seen(time.monotonic(), method, path, watch, fault.action if fault else None))
            return fault

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def boot() -> None:
            app = web.Application(client_max_size=64 * 2**20)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._server_tls)
            await site.start()
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._upstream.ssl),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None),
                auto_decompress=False,
                skip_auto_headers={"Accept-Encoding"},
            )

        def serve() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(boot())
            ready.set()
            self._loop.run_forever()

        # The aborted connections are the point; aiohttp would log each one as an error.
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
        self._thread = threading.Thread(target=serve, name="fault-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(15):
            raise RuntimeError("the fault proxy did not start")
        self._write_kubeconfig()
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def shutdown() -> None:
            if self._runner is not None:
                await self._runner.cleanup()
            if self._session is not None:
                await self._session.close()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None
        self._work.cleanup()

    def _write_kubeconfig(self) -> None:
        context: dict[str, Any] = {"cluster": "fault-proxy", "user": "proxied"}
        if self._upstream.namespace:
            context["namespace"] = self._upstream.namespace
        # The client's token passes through; client certificates are the proxy's to present upstream.
        user = {k: v for k, v in self._upstream.user.items() if not k.startswith("client-")}
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "fault-proxy",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(self._ca_pem).decode(),
                    },
                }
            ],
            "users": [{"name": "proxied", "user": user}],
            "contexts": [{"name": "fault-proxy", "context": context}],
            "current-context": "fault-proxy",
        }
        Path(self.kubeconfig).write_text(json.dumps(doc, indent=2))
        Path(self.kubeconfig).chmod(0o600)

    # -- serving --------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        watch = request.query.get("watch") in ("true", "1")
        fault = self._take(request.method, request.path, watch)
        body = await request.read()
        if fault is None:
            return await self._forward(request, body, watch)
        if fault.action == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
            message = f"fault proxy: injected {fault.status}"
            return web.json_response(
                _status_body(fault.status, message, fault.retry_after), status=fault.status, headers=headers
            )
        if fault.action == "reset":
            if fault.after_forward:
                await self._forward(request, body, watch, deliver=False)
            _reset(request)
            return web.Response()
        if fault.action == "delay":
            await asyncio.sleep(fault.delay)
            return await self._forward(request, body, watch)
        if fault.action == "gone" and not watch:
            return web.json_response(_status_body(410, "fault proxy: too old resource version"), status=410)
        return await self._forward(request, body, watch, fault=fault)

    async def _forward(
        self, request: web.Request, body: bytes, watch: bool, *, fault: Fault | None = None, deliver: bool = True
    ) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _SKIP_REQUEST}
        async with self._session.request(
            request.method,
            URL(self._upstream.server + request.rel_url.raw_path_qs, encoded=True),
            headers=headers,
            data=body or None,
            allow_redirects=False,
        ) as upstream:
            if not deliver:
                await upstream.read()
                return web.Response()
            response = web.StreamResponse(
                status=upstream.status,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in _SKIP_RESPONSE},
            )
            await response.prepare(request)
            if fault is not None and upstream.status == 200:
                await self._faulty_stream(request, upstream, response, fault)
                return response
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    async def _faulty_stream(
        self, request: web.Request, upstream: aiohttp.ClientResponse, response: web.StreamResponse, fault: Fault
    ) -> None:
        """
        Pass ``after_events`` lines (watch events, log lines) through, then cut the stream or answer
        ``410 Gone`` in it; or hold it open and silent (``stall``).
        """
        if fault.action == "stall":
            await asyncio.Event().wait()  # until the client gives up (the handler is then cancelled)
        passed, pending = 0, b""
        deadline = None if fault.after_seconds is None else time.monotonic() + fault.after_seconds
        # A cut by time alone passes every event until then; otherwise stop after ``after_events``.
        limit: int | None = fault.after_events if fault.after_events or deadline is None else None
        while limit is None or passed < limit:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                chunk = await asyncio.wait_for(upstream.content.readany(), timeout)
            except asyncio.TimeoutError:
                break
            if not chunk:  # the real server ended the stream first
                await response.write_eof()
                return
            pending += chunk
            while b"\n" in pending and (limit is None or passed < limit):
                line, pending = pending.split(b"\n", 1)
                await response.write(line + b"\n")
                passed += bool(line.strip())
        if fault.action == "gone":
            event = {"type": "ERROR", "object": _status_body(410, "fault proxy: too old resource version")}
            await response.write(json.dumps(event).encode() + b"\n")
            await response.write_eof()
            return
        _reset(request)
