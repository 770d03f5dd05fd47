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


def test_a_real_pod_is_dialed_at_its_own_ip_and_a_stand_in_at_the_local_head() -> None:
    real = {"rc-1-head-svc.ns.svc.cluster.local": "10.244.10.5", "10.244.10.5": "10.244.10.5"}
    routes = fwdproxy.Routes(dashboard_port=41000, pod_network=ipaddress.IPv4Network("10.244.10.0/24"), real=real.get)
    assert routes.target("rc-1-head-svc.ns.svc.cluster.local", 8265) == ("10.244.10.5", 8265)
    assert routes.target("10.244.10.5", 8000) == ("10.244.10.5", 8000)
    assert routes.target("rc-2-head-svc.ns.svc.cluster.local", 8265) == ("127.0.0.1", 41000)  # a stand-in
    assert routes.target("rc-1-head-svc.ns.svc.cluster.local", 6379) is None
    assert routes.target("example.com", 8265) is None


def _pod(name: str, ns: str, labels: dict[str, str], ip: str, ready: bool, created: int) -> Any:
    from datetime import datetime, timezone

    from kubernetes import client

    return client.V1Pod(
        metadata=client.V1ObjectMeta(
            name=name, namespace=ns, labels=labels, creation_timestamp=datetime.fromtimestamp(created, timezone.utc)
        ),
        status=client.V1PodStatus(
            pod_ip=ip, conditions=[client.V1PodCondition(type="Ready", status="True" if ready else "False")]
        ),
    )


def _service(name: str, ns: str, selector: dict[str, str], not_ready: bool = False) -> Any:
    from kubernetes import client

    return client.V1Service(
        metadata=client.V1ObjectMeta(name=name, namespace=ns),
        spec=client.V1ServiceSpec(selector=selector, publish_not_ready_addresses=not_ready),
    )


def test_service_names_resolve_to_the_pods_their_selectors_pick() -> None:
    from harness import podspec, services

    pods = [
        _pod("a-head", "ns1", {"ray.io/cluster": "a", "ray.io/node-type": "head"}, "10.244.10.2", False, 1),
        _pod("b-head", "ns1", {"ray.io/cluster": "b", "ray.io/node-type": "head"}, "10.244.10.3", True, 2),
        _pod("b-old", "ns1", {"ray.io/cluster": "b", "ray.io/node-type": "head"}, "10.244.10.9", False, 0),
        _pod("a-head", "ns2", {"ray.io/cluster": "a", "ray.io/node-type": "head"}, "10.244.10.4", True, 3),
    ]
    svcs = [
        _service("a-head-svc", "ns1", {"ray.io/cluster": "a", "ray.io/node-type": "head"}, not_ready=True),
        _service("b-head-svc", "ns1", {"ray.io/cluster": "b", "ray.io/node-type": "head"}),
        _service("a-head-svc", "ns2", {"ray.io/cluster": "a", "ray.io/node-type": "head"}),
        _service("nobody", "ns2", {"app": "none"}),
    ]
    names = services.table(svcs, pods)
    assert names == {
        "a-head-svc.ns1.svc.cluster.local": "10.244.10.2",  # not ready, but published anyway
        "b-head-svc.ns1.svc.cluster.local": "10.244.10.3",  # the ready one
        "a-head-svc.ns2.svc.cluster.local": "10.244.10.4",  # same name, other namespace, other cluster
    }
    assert services.lookup(names, "b-head-svc.ns1") == "10.244.10.3"
    assert services.lookup(names, "b-head-svc.ns1.svc") == "10.244.10.3"
    assert services.lookup(names, "example.com") is None
    hosts = podspec.hosts_file("10.244.10.7", "job-x", names, "ns2").splitlines()
    assert "10.244.10.7\tjob-x" in hosts
    assert "10.244.10.4\ta-head-svc.ns2.svc.cluster.local a-head-svc.ns2.svc a-head-svc.ns2 a-head-svc" in hosts
    assert "10.244.10.2\ta-head-svc.ns1.svc.cluster.local a-head-svc.ns1.svc a-head-svc.ns1" in hosts


def test_container_command_and_env_as_a_kubelet_builds_them() -> None:
    from kubernetes import client

    from harness import podspec

    container = client.V1Container(
        name="ray-worker",
        command=["/bin/bash", "-lc", "--"],
        args=["ray start --address=$(FQ_RAY_IP):6379 --num-cpus=$(CPUS) $$(KEPT) $(UNKNOWN)"],
        env=[
            client.V1EnvVar(name="FQ_RAY_IP", value="rc-head-svc.ns.svc.cluster.local"),
            client.V1EnvVar(
                name="CPUS",
                value_from=client.V1EnvVarSource(
                    resource_field_ref=client.V1ResourceFieldSelector(resource="limits.cpu")
                ),
            ),
            client.V1EnvVar(
                name="CLUSTER",
                value_from=client.V1EnvVarSource(
                    field_ref=client.V1ObjectFieldSelector(field_path="metadata.labels['ray.io/cluster']")
                ),
            ),
            client.V1EnvVar(
                name="IP",
                value_from=client.V1EnvVarSource(field_ref=client.V1ObjectFieldSelector(field_path="status.podIP")),
            ),
        ],
        resources=client.V1ResourceRequirements(limits={"cpu": "1500m", "memory": "1Gi"}),
    )
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="rc-worker-x", namespace="ns", uid="u", labels={"ray.io/cluster": "rc"}),
        spec=client.V1PodSpec(containers=[container]),
    )
    env = podspec.container_env(pod, container, "10.244.10.8", "node", {"PATH": "/venv/bin"})
    assert (env["CPUS"], env["CLUSTER"], env["IP"], env["PATH"]) == ("2", "rc", "10.244.10.8", "/venv/bin")
    argv = podspec.command(container, env)
    # Not a login shell (it would reset PATH and lose the venv's `ray`, the image's stand-in).
    assert argv[:3] == ["/bin/bash", "-c", "--"]
    assert argv[3] == "ray start --address=rc-head-svc.ns.svc.cluster.local:6379 --num-cpus=2 $(KEPT) $(UNKNOWN)"
