"""Audit a command's network use: every connect()/sendto()/sendmsg() destination of the command
and all its descendants, flagged unless it is loopback or inside the harness's pod networks.

    python -m harness.netaudit -- uv run pytest -m k8s tests/k8s

Needs strace. Exits 1 if any other destination was dialed (after the command's own exit code
is reported). A tool for developers; the test tiers do not depend on it.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

# The harness's own namespaces (harness/netns.py): pod IPs and the veth link.
ALLOWED = [ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128", "10.244.0.0/16", "10.245.0.0/16")]
ADDR = re.compile(r'(?:sin_addr=inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)", &sin6_addr\))')
PORT = re.compile(r"sin6?_port=htons\((\d+)\)")


def destinations(trace: str) -> Counter[tuple[str, str, str]]:
    """(address, port, syscall) of every outbound attempt in an strace -f log."""
    found: Counter[tuple[str, str, str]] = Counter()
    for line in trace.splitlines():
        call = next((c for c in ("connect(", "sendto(", "sendmsg(") if c in line), None)
        if call is None or "AF_INET" not in line:
            continue
        m = ADDR.search(line)
        if not m:
            continue
        addr = (m.group(1) or m.group(2)).removeprefix("::ffff:")
        port = PORT.search(line)
        found[(addr, port.group(1) if port else "?", call.rstrip("("))] += 1
    return found


def allowed(addr: str) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in ALLOWED if net.version == ip.version)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.netaudit")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    cmd = [c for c in args.command if c != "--"] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("give a command after --")
    if shutil.which("strace") is None:
        print("netaudit: strace is not installed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="krh-audit-") as d:
        log = Path(d) / "trace"
        rc = subprocess.call(["strace", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(log), *cmd])
        found = destinations(log.read_text())
    bad = {k: n for k, n in found.items() if not allowed(k[0])}
    print(f"netaudit: command exited {rc}; {sum(found.values())} outbound calls, {len(bad)} disallowed destinations")
    for (addr, port, call), n in sorted(bad.items()):
        print(f"  DISALLOWED {addr}:{port} via {call} x{n}")
    return 1 if bad else rc


if __name__ == "__main__":
    raise SystemExit(main())
