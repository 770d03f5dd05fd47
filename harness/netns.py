"""The harness's pod network: a node network namespace with a bridge, and one namespace per pod.

The node namespace is reached from the host over a veth pair; the host routes the pod /24 there,
and nothing else.  Inside it:

- a bridge holds the lower half of the /24 (``.1`` is the node's gateway, where the agent relays
  the API server; pods get ``.2``-``.126``): each pod that really runs has a network namespace
  of its own with an ``eth0`` on that bridge, so pods listen on Ray's fixed ports without clashing;
- the upper half (``.128/25``) is an AnyIP ``local`` route: the IPs of stand-in pods (no
  processes), where a relay answers for the local Ray head.

Pods have no default route: they reach the pod network and the host end of the node link (for
replies to the API server's service proxy), nothing else.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

CLONE_NEWNET = 0x40000000


def available() -> str | None:
    """None if a namespace can be made here, else why not."""
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is missing"
    return None


@dataclass(frozen=True)
class PodNetwork:
    name: str  # namespace name, also the base of the veth names
    index: int  # picks 10.244.<index>.0/24 for pods and 10.245.<index>.0/30 for the link

    @property
    def pod_cidr(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"10.244.{self.index}.0/24")

    @property
    def host_ip(self) -> str:
        return f"10.245.{self.index}.1"

    @property
    def ns_ip(self) -> str:
        return f"10.245.{self.index}.2"

    @property
    def gateway(self) -> str:
        """The bridge's address in the node namespace: pods' route, and where the API server is relayed."""
        return f"10.244.{self.index}.1"

    @property
    def pod_ips(self) -> list[str]:
        """Addresses for pods that really run (on the bridge)."""
        return [f"10.244.{self.index}.{i}" for i in range(2, 127)]

    @property
    def stand_in_ips(self) -> list[str]:
        """Addresses for stand-in pods (local in the node namespace, where the relay listens)."""
        return [f"10.244.{self.index}.{i}" for i in range(138, 255)]

    @property
    def bridge(self) -> str:
        return "br0"

    def pod_netns(self, ip: str) -> str:
        return f"{self.name}-p{ip.rsplit('.', 1)[1]}"

    @property
    def veth_host(self) -> str:
        return f"krh{self.index}h"

    @property
    def veth_ns(self) -> str:
        return f"krh{self.index}n"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _used_indexes() -> set[int]:
    out = _ip("-o", "route", "show").stdout + _ip("-o", "link", "show").stdout
    used = set()
    for i in range(1, 250):
        if f"10.244.{i}." in out or f"10.245.{i}." in out or f"krh{i}h" in out:
            used.add(i)
    return used


def create(prefix: str = "krh") -> PodNetwork:
    """Make a pod network on the first free index (another harness may be racing for one)."""
    last = ""
    for index in range(10, 250):
        if index in _used_indexes():
            continue
        net = PodNetwork(f"{prefix}-{os.getpid()}-{index}", index)
        try:
            _setup(net)
            return net
        except subprocess.CalledProcessError as e:
            last = e.stderr.strip()
            if "exists" not in last:
                break
    raise RuntimeError(f"cannot create the pod network namespace: {last}")


def _setup(net: PodNetwork) -> None:
    _ip("netns", "add", net.name)
    try:
        _ip("link", "add", net.veth_host, "type", "veth", "peer", "name", net.veth_ns)
    except subprocess.CalledProcessError:
        _ip("netns", "del", net.name, check=False)  # the veth name is someone else's: keep it
        raise
    try:
        _ip("link", "set", net.veth_ns, "netns", net.name)
        _ip("addr", "add", f"{net.host_ip}/30", "dev", net.veth_host)
        _ip("link", "set", net.veth_host, "up")
        _ip("-n", net.name, "link", "set", "lo", "up")
        _ip("-n", net.name, "addr", "add", f"{net.ns_ip}/30", "dev", net.veth_ns)
        _ip("-n", net.name, "link", "set", net.veth_ns, "up")
        _ip("-n", net.name, "link", "add", net.bridge, "type", "bridge")
        _ip("-n", net.name, "addr", "add", f"{net.gateway}/25", "dev", net.bridge)
        _ip("-n", net.name, "link", "set", net.bridge, "up")
        # Stand-in pod IPs are local inside the namespace (AnyIP); it has no default route at all.
        _ip("-n", net.name, "route", "add", "local", f"10.244.{net.index}.128/25", "dev", "lo")
        _sysctl(net.name, "net/ipv4/ip_forward", "1")  # host <-> pods, through the bridge
        _ip("route", "add", str(net.pod_cidr), "via", net.ns_ip, "dev", net.veth_host, "src", net.host_ip)
    except subprocess.CalledProcessError:
        remove(net)  # both ends were made here
        raise


def _sysctl(netns: str, key: str, value: str) -> None:
    subprocess.run(
        ["ip", "netns", "exec", netns, "sh", "-c", f"echo {value} > /proc/sys/{key}"], check=True, capture_output=True
    )


def add_pod(net: PodNetwork, ip: str) -> str:
    """A network namespace for one pod, with `ip` on an eth0 plugged into the node's bridge."""
    name = net.pod_netns(ip)
    veth = f"p{ip.rsplit('.', 1)[1]}"
    _ip("netns", "del", name, check=False)  # a leftover of a pod that had this IP
    _ip("netns", "add", name)
    try:
        _ip("-n", net.name, "link", "del", veth, check=False)
        _ip("-n", net.name, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name)
        _ip("-n", net.name, "link", "set", veth, "master", net.bridge)
        _ip("-n", net.name, "link", "set", veth, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "addr", "add", f"{ip}/25", "dev", "eth0")
        _ip("-n", name, "link", "set", "eth0", "up")
        # The stand-in half of the /24 and the host end of the node link; no default route.
        _ip("-n", name, "route", "add", str(net.pod_cidr), "via", net.gateway)
        _ip("-n", name, "route", "add", f"{net.host_ip}/32", "via", net.gateway)
    except subprocess.CalledProcessError:
        remove_pod(name)
        raise
    return name


def remove_pod(name: str) -> None:
    # Deleting the namespace destroys its eth0, and with it the peer on the bridge.
    _ip("netns", "del", name, check=False)


def remove(net: PodNetwork) -> None:
    for pod in Path("/run/netns").glob(f"{net.name}-p*") if Path("/run/netns").is_dir() else []:
        remove_pod(pod.name)
    # Deleting the namespace destroys its veth end, which removes the peer and the host route.
    _ip("netns", "del", net.name, check=False)
    if not exists(net.name):
        _ip("link", "del", net.veth_host, check=False)


def exists(name: str) -> bool:
    return os.path.exists(f"/run/netns/{name}")


def listen_in(name: str, port: int, host: str = "0.0.0.0") -> socket.socket:
    """A listening TCP socket bound inside namespace `name` (the caller's thread stays outside)."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into pod network failed")
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(64)
            sock.setblocking(False)
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the host network failed")
    finally:
        os.close(own)
        os.close(target)
    return sock
