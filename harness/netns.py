"""A network namespace that holds every pod IP of the harness.

The API server's service proxy (``/api/v1/namespaces/NS/services/SVC:dashboard/proxy/``) dials the
endpoint's pod IP.  Pod IPs are taken from a /24 that is *local* inside a namespace created here
(an AnyIP ``local`` route), reached from the host over a veth pair; so every dial of a pod IP
ends inside that namespace and nowhere else.  A relay listening there forwards the Ray ports to the
local Ray head on the host's 127.0.0.1.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass

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
        # Every address of the pod /24 is local inside the namespace (AnyIP), so no pod IP is
        # ever routed anywhere else; the namespace has no default route at all.
        _ip("-n", net.name, "route", "add", "local", str(net.pod_cidr), "dev", "lo")
        _ip("route", "add", str(net.pod_cidr), "via", net.ns_ip, "dev", net.veth_host, "src", net.host_ip)
    except subprocess.CalledProcessError:
        remove(net)  # both ends were made here
        raise


def remove(net: PodNetwork) -> None:
    # Deleting the namespace destroys its veth end, which removes the peer and the host route.
    _ip("netns", "del", net.name, check=False)
    if not exists(net.name):
        _ip("link", "del", net.veth_host, check=False)


def exists(name: str) -> bool:
    return os.path.exists(f"/run/netns/{name}")


def listen_in(name: str, port: int) -> socket.socket:
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
            sock.bind(("0.0.0.0", port))
            sock.listen(64)
            sock.setblocking(False)
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the host network failed")
    finally:
        os.close(own)
        os.close(target)
    return sock
