"""Fast checks of the harness's own parts that keep the network rule (no cluster needed)."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pytest

from devtools.processes import free_ports
from harness import fwdproxy


async def _fake_upstream(port: int, seen: list[bytes]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", port)


async def _ask(proxy_port: int, target: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.mark.parametrize(
    ("target", "routed"),
    [
        ("http://rc-1-head-svc.ns.svc.cluster.local:8265/api/jobs/", True),
        ("http://rc-1-head-svc.ns.svc:8265/api/version", True),
        ("http://10.244.10.12:8265/api/version", True),
        ("http://rc-1-head-svc.ns.svc.cluster.local:6379/", False),  # only dashboard and Serve ports
        ("http://example.com/", False),
        ("http://192.0.2.1:8265/", False),  # an IP outside the pod network is never dialed
        ("http://10.0.0.1:8265/", False),
    ],
)
def test_forward_proxy_routes_only_ray_endpoints_to_loopback(target: str, routed: bool) -> None:
    up_port, proxy_port = free_ports(2)
    routes = fwdproxy.Routes(dashboard_port=up_port, pod_network=ipaddress.IPv4Network("10.244.10.0/24"))

    async def scenario() -> tuple[bytes, list[bytes]]:
        seen: list[bytes] = []
        upstream = await _fake_upstream(up_port, seen)
        proxy = await asyncio.start_server(lambda r, w: fwdproxy._handle(routes, r, w), "127.0.0.1", proxy_port)
        async with upstream, proxy:
            return await _ask(proxy_port, target), seen

    reply, seen = _run(scenario())
    if routed:
        assert reply.startswith(b"HTTP/1.1 200")
        assert reply.endswith(b"ok")
        # Origin-form path to the upstream, one request per connection.
        assert seen[0].split(b"\r\n", 1)[0].startswith(b"GET /")
        assert b"connection: close" in seen[0].lower()
    else:
        assert reply.startswith(b"HTTP/1.1 502")
        assert seen == []


def test_submitter_urls_point_at_the_local_ray_head(tmp_path: Any) -> None:
    from kubernetes import client

    from harness.kubelet import Kubelet

    k = Kubelet(
        api=client.ApiClient(),
        pod_cidr=ipaddress.IPv4Network("10.244.10.0/24"),
        node_ip="10.245.10.2",
        dashboard_port=41000,
        serve_port=42000,
        bin_dir=tmp_path,
        log_dir=tmp_path / "logs",
    )
    cmd = (
        "if ! ray job status --address http://job-x-head-svc.ns.svc.cluster.local:8265 id ; then "
        "ray job submit --address http://job-x-head-svc.ns.svc.cluster.local:8265 -- python -c "
        "'import requests; requests.get(\"http://example.com:8265\")' ; fi"
    )
    out = k._rewrite(cmd)
    assert out.count("http://127.0.0.1:41000") == 2
    assert "http://example.com:8265" in out  # only cluster service URLs are rewritten
    assert k._rewrite("http://svc-serve-svc.ns.svc.cluster.local:8000/") == "http://127.0.0.1:42000/"
