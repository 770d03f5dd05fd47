"""The harness's node agent, one process: test kubelet + forward proxy + pod-network relays.

Relays in the node network namespace: the stand-in pods' Ray ports to the local Ray head, the node
gateway's port 443 to the API server (pods' in-cluster address), and the kubelet's log endpoint.

    python -m harness.agent --config agent.json

Started and stopped (by PID) by ``harness.controlplane``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import ipaddress
import json
import logging
import signal
import ssl
import threading
from pathlib import Path

from harness import fwdproxy, logserver, netns
from harness.kubelet import API_PORT, Kubelet

RELAY_PORTS = (fwdproxy.DASHBOARD_PORT, fwdproxy.SERVE_PORT)


async def _relay_conn(upstream: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Pipe a connection made in the node namespace to 127.0.0.1:upstream on the host."""
    try:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
    except OSError:
        writer.close()
        return
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(fwdproxy._pipe(reader, up_writer), fwdproxy._pipe(up_reader, writer))


async def _main(cfg: dict, kubelet: Kubelet, stop: threading.Event, ready: threading.Event) -> None:
    routes = fwdproxy.Routes(
        dashboard_port=cfg["dashboard_port"],
        serve_port=cfg.get("serve_port"),
        pod_network=ipaddress.IPv4Network(cfg["pod_cidr"]),
        real=kubelet.real_ip,
    )
    servers = []
    proxy = await asyncio.start_server(lambda r, w: fwdproxy._handle(routes, r, w), "127.0.0.1", cfg["proxy_port"])
    servers.append(proxy)
    if cfg.get("netns"):
        # Sockets made inside the node namespace: connections to a stand-in pod IP on these
        # ports end here and are relayed to the local Ray head through the host's loopback.
        for port in RELAY_PORTS:
            upstream = routes.upstream(kubelet.net.stand_in_ips[0], port)
            if upstream is None:
                continue
            sock = netns.listen_in(cfg["netns"], port)
            servers.append(await asyncio.start_server(functools.partial(_relay_conn, upstream), sock=sock))
        # Pods reach the API server at the gateway (KUBERNETES_SERVICE_HOST): TLS passes through.
        api = netns.listen_in(cfg["netns"], API_PORT, host=kubelet.net.gateway)
        api_port = int(cfg["apiserver_port"])
        servers.append(await asyncio.start_server(functools.partial(_relay_conn, api_port), sock=api))
        # The kubelet's log endpoint on the node IP, for `pods/log` through the API server.
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cfg["kubelet_cert"], cfg["kubelet_key"])
        log_dir = Path(cfg["log_dir"])
        servers.append(
            await asyncio.start_server(
                lambda r, w: logserver._handle(log_dir, r, w),
                sock=netns.listen_in(cfg["netns"], logserver.KUBELET_PORT),
                ssl=tls,
            )
        )
    ready.set()
    await asyncio.to_thread(stop.wait)
    for s in servers:
        s.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.agent")
    ap.add_argument("--config", required=True, type=Path)
    args = ap.parse_args(argv)
    cfg = json.loads(args.config.read_text())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    from kubernetes import config as kconfig

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    api = kconfig.new_client_from_config(config_file=cfg["kubeconfig"])
    kubelet = Kubelet(
        api=api,
        net=netns.PodNetwork(cfg["netns"], cfg["netns_index"]),
        bin_dir=Path(cfg["bin_dir"]),
        log_dir=Path(cfg["log_dir"]),
        pod_dir=Path(cfg["pod_dir"]),
        ca_file=Path(cfg["ca_file"]),
    )
    ready = threading.Event()
    net_thread = threading.Thread(target=lambda: asyncio.run(_main(cfg, kubelet, stop, ready)), name="net", daemon=True)
    net_thread.start()
    if not ready.wait(30):
        raise SystemExit("agent: network side did not start")
    kubelet.register()
    Path(cfg["ready_file"]).write_text("ready\n")
    kubelet.run_forever(stop)
    net_thread.join(timeout=5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
