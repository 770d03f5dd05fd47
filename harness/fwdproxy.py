"""A tiny HTTP forward proxy on 127.0.0.1 for the KubeRay operator only.

The operator dials Ray dashboards as ``http://CLUSTER-head-svc.NS.svc.cluster.local:8265`` and
Serve proxies as ``http://POD_IP:8000``.  Its process gets ``HTTP_PROXY`` pointing here.  A target
behind which a pod really runs is dialed at that pod's IP (the kubelet's Service table stands for
cluster DNS); any other Ray head Service or pod IP is a stand-in, mapped to the one local Ray head
on 127.0.0.1.  It never resolves a name through DNS.  Unknown targets get a 502.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

log = logging.getLogger("harness.fwdproxy")

DASHBOARD_PORT = 8265
SERVE_PORT = 8000


@dataclass
class Routes:
    """Where cluster-side ports land on the local Ray head."""

    dashboard_port: int
    serve_port: int | None = None
    pod_network: ipaddress.IPv4Network = field(default_factory=lambda: ipaddress.IPv4Network("10.244.0.0/24"))
    # host -> the IP of a pod that really runs behind it (a pod IP or a Service name), else None.
    real: Callable[[str], str | None] = lambda _host: None

    def target(self, host: str, port: int) -> tuple[str, int] | None:
        """Where a request for host:port goes: a real pod's IP, or the local Ray head, or nowhere."""
        if port not in (DASHBOARD_PORT, SERVE_PORT):
            return None
        ip = self.real(host)
        if ip is not None:
            return ip, port
        local = self.upstream(host, port)
        return ("127.0.0.1", local) if local is not None else None

    def upstream(self, host: str, port: int) -> int | None:
        """The local Ray head's port that a stand-in host:port maps to, if any."""
        if not self._is_cluster_host(host):
            return None
        if port == DASHBOARD_PORT:
            return self.dashboard_port
        if port == SERVE_PORT:
            return self.serve_port
        return None

    def _is_cluster_host(self, host: str) -> bool:
        try:
            return ipaddress.ip_address(host) in self.pod_network
        except ValueError:
            # Head services only (KubeRay names them NAME-head-svc, serve services NAME-serve-svc).
            first = host.split(".", 1)[0]
            return first.endswith(("-head-svc", "-serve-svc"))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _reply(writer: asyncio.StreamWriter, status: str, body: str) -> None:
    data = body.encode()
    writer.write(
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(data)}\r\n"
        f"Connection: close\r\n\r\n".encode()
        + data
    )


async def _handle(routes: Routes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        writer.close()
        return
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    url = urlsplit(target)
    if method == "CONNECT" or url.scheme != "http" or not url.hostname:
        _reply(writer, "405 Method Not Allowed", "only absolute-form http:// requests are proxied\n")
        await writer.drain()
        writer.close()
        return
    port = url.port or 80
    upstream = routes.target(url.hostname, port)
    if upstream is None:
        log.warning("refusing %s %s (not a Ray head endpoint)", method, target)
        _reply(writer, "502 Bad Gateway", f"harness proxy: no route for {url.hostname}:{port}\n")
        await writer.drain()
        writer.close()
        return
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    # One request per connection keeps the mapping per request exact.
    kept = [
        h
        for h in lines[1:]
        if h and not h.lower().startswith(("connection:", "proxy-connection:", "keep-alive:", "proxy-authorization:"))
    ]
    new_head = "\r\n".join([f"{method} {path} {version}", *kept, "Connection: close", "", ""])
    new_head_bytes = new_head.encode("latin-1")
    try:
        up_reader, up_writer = await asyncio.open_connection(*upstream)
    except OSError as e:
        _reply(writer, "502 Bad Gateway", f"harness proxy: {upstream[0]}:{upstream[1]} not reachable: {e}\n")
        await writer.drain()
        writer.close()
        return
    log.info("%s %s -> %s:%d", method, target, *upstream)
    up_writer.write(new_head_bytes)
    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def serve(routes: Routes, port: int, started: Callable[[], None] | None = None) -> None:
    server = await asyncio.start_server(lambda r, w: _handle(routes, r, w), "127.0.0.1", port)
    if started:
        started()
    async with server:
        await server.serve_forever()
