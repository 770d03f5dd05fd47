"""
One Kubernetes API client per connection and event loop (in a triggerer: per process), shared by
every async hook of that connection while any of them is open.

A client's TLS context is the costly part: reading and parsing the system CA bundle takes tens of
milliseconds, which ``kubernetes_asyncio`` spends on the event loop each time it builds a client.
Here the context is built in a thread, once per shared client, and the loop only wires it in.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

import aiohttp
from kubernetes_asyncio import client as async_client
from kubernetes_asyncio.client import rest

from airflow_provider_kuberay import __version__

# What the API server's audit log shows as the caller.
USER_AGENT = f"airflow-provider-kuberay/{__version__}"
# Watch events with large objects exceed aiohttp's default read buffer (the library's own value).
_READ_BUFFER = 2**21


def tls_context(cfg: async_client.Configuration) -> ssl.SSLContext:
    """
    The TLS context ``kubernetes_asyncio`` builds for ``cfg``: blocking work, run it in a thread.

    :param cfg: the loaded client configuration (CA file, client certificate, verification flags).
    """
    context = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
    if cfg.cert_file:
        context.load_cert_chain(cfg.cert_file, keyfile=cfg.key_file)
    if not cfg.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cfg.disable_strict_ssl_verification:
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return context


class _RestClient(rest.RESTClientObject):
    """The library's REST client on a TLS context built beforehand (its constructor would build one here)."""

    def __init__(self, cfg: async_client.Configuration, context: ssl.SSLContext) -> None:
        # Not super().__init__: the attributes it sets, without its TLS work (a test pins them). The
        # library's annotations are narrower than the values its own constructor assigns.
        self.server_hostname = cfg.tls_server_name  # type: ignore[assignment]
        self.proxy = cfg.proxy  # type: ignore[assignment]
        self.proxy_headers = cfg.proxy_headers  # type: ignore[assignment]
        connector = aiohttp.TCPConnector(limit=cfg.connection_pool_maxsize, ssl=context)
        self.pool_manager = aiohttp.ClientSession(connector=connector, trust_env=True, read_bufsize=_READ_BUFFER)


class _ApiClient(async_client.ApiClient):
    """The library's API client with the REST client above (its constructor would build its own)."""

    def __init__(self, cfg: async_client.Configuration, context: ssl.SSLContext) -> None:
        # Not super().__init__: the attributes it sets (a test pins them), with our REST client.
        self.configuration = cfg
        self.pool_threads = 1
        self.rest_client = _RestClient(cfg, context)
        self.default_headers = {}
        self.cookie = None  # type: ignore[assignment]
        self.user_agent = USER_AGENT
        self.client_side_validation = cfg.client_side_validation


async def new_api_client(cfg: async_client.Configuration) -> async_client.ApiClient:
    """
    An API client for ``cfg`` whose TLS context was built off the event loop.

    :param cfg: the loaded client configuration.
    """
    return _ApiClient(cfg, await asyncio.to_thread(tls_context, cfg))


@dataclass
class _Shared:
    client: asyncio.Task[async_client.ApiClient]
    users: int = 0


# Per loop: aiohttp sessions belong to the loop they were opened on.
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, _Shared]] = weakref.WeakKeyDictionary()


async def acquire(
    key: Hashable, configuration: Callable[[], Awaitable[async_client.Configuration]]
) -> async_client.ApiClient:
    """
    The shared client of ``key`` on this loop, built on first use; pair with :func:`release`.

    :param key: what identifies the credentials (the connection and how it is configured).
    :param configuration: loads the client configuration, for the first user only.
    """
    clients = _CLIENTS.setdefault(asyncio.get_running_loop(), {})
    shared = clients.get(key)
    if shared is None:

        async def build() -> async_client.ApiClient:
            return await new_api_client(await configuration())

        shared = clients[key] = _Shared(asyncio.ensure_future(build()))
    shared.users += 1
    try:
        # Shielded: one user giving up must not cancel the build the others wait on.
        return await asyncio.shield(shared.client)
    except BaseException:
        await release(key)
        raise


async def release(key: Hashable) -> None:
    """One user of ``key``'s client is done; the last one closes it."""
    clients = _CLIENTS.get(asyncio.get_running_loop(), {})
    shared = clients.get(key)
    if shared is None:
        return
    shared.users -= 1
    if shared.users > 0:
        return
    del clients[key]
    if not shared.client.done():
        # Nobody waits for it any more. Not awaited: that would swallow a cancellation of the caller.
        shared.client.cancel()
        return
    if shared.client.cancelled() or shared.client.exception() is not None:
        return  # never built: nothing to close
    await shared.client.result().close()


def open_clients() -> int:
    """How many shared clients are open on the running loop (for tests and benchmarks)."""
    return len(_CLIENTS.get(asyncio.get_running_loop(), {}))
