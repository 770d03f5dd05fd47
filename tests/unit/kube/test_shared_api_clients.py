"""One Kubernetes API client per connection and event loop, built without blocking the loop."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes_asyncio import client as async_client

from airflow_provider_kuberay.hooks import shared_api_clients
from airflow_provider_kuberay.hooks.kuberay_async import KubeRayAsyncHook
from tests.support.fake_kube_api import FakeKubeApi, running_fake_kube_api
from tests.support.loop_watchdog import run_watched


@pytest.fixture
def api() -> Iterator[FakeKubeApi]:
    yield from running_fake_kube_api()


def _hook(api: FakeKubeApi, conn_id: str | None = None, **kwargs: Any) -> KubeRayAsyncHook:
    if conn_id is None:
        kwargs.setdefault("config_dict", api.kubeconfig_dict())
    return KubeRayAsyncHook(conn_id, **kwargs)


def test_hooks_of_one_connection_share_one_client_until_the_last_closes(api: FakeKubeApi) -> None:
    async def scenario() -> None:
        first, second = _hook(api), _hook(api)
        one, two = await asyncio.gather(first.api_client_async(), second.api_client_async())
        assert one is two  # built once, though both asked at the same time
        assert shared_api_clients.open_clients() == 1
        await first.list_objects("RayJob")
        await first.close()
        assert not one.rest_client.pool_manager.closed  # the second hook still uses it
        await second.list_objects("RayJob")
        await second.close()
        assert one.rest_client.pool_manager.closed
        assert shared_api_clients.open_clients() == 0
        third = _hook(api)
        assert await third.api_client_async() is not one  # a new one once all had let go
        await third.close()

    asyncio.run(scenario())


def test_other_credentials_and_own_configurations_get_clients_of_their_own(
    api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KR_SHARED", api.connection_json(namespace="ml"))

    async def scenario() -> None:
        by_dict, by_conn = _hook(api), _hook(api, "kr_shared")
        own = _hook(api, client_configuration=async_client.Configuration())
        clients = [await hook.api_client_async() for hook in (by_dict, by_conn, own)]
        assert len({id(c) for c in clients}) == 3
        assert shared_api_clients.open_clients() == 2  # the hook's own client is not shared
        for hook in (by_dict, by_conn, own):
            await hook.list_objects("RayJob")
            await hook.close()
        assert all(c.rest_client.pool_manager.closed for c in clients)

    asyncio.run(scenario())


def test_each_loop_has_its_own_client(api: FakeKubeApi) -> None:
    async def client_of_a_loop() -> tuple[int, bool]:
        hook = _hook(api)
        client = await hook.api_client_async()
        await hook.close()
        return id(client), client.rest_client.pool_manager.closed

    assert asyncio.run(client_of_a_loop())[1] is True
    assert asyncio.run(client_of_a_loop())[1] is True


def test_a_hook_cancelled_while_the_client_is_built_leaves_it_to_the_others(api: FakeKubeApi) -> None:
    async def scenario() -> None:
        waiting, staying = _hook(api), _hook(api)
        gives_up = asyncio.ensure_future(waiting.api_client_async())
        stays = asyncio.ensure_future(staying.api_client_async())
        await asyncio.sleep(0)
        gives_up.cancel()
        client = await stays
        assert not client.rest_client.pool_manager.closed
        await staying.list_objects("RayJob")
        await staying.close()
        assert shared_api_clients.open_clients() == 0

    asyncio.run(scenario())


def test_building_a_client_never_blocks_the_loop(api: FakeKubeApi) -> None:
    # A plain-HTTP server has no CA file: the system CA bundle is parsed (tens of ms), in a thread.
    async def scenario() -> int:
        hook = _hook(api)
        try:
            return len(await hook.list_objects("RayJob"))
        finally:
            await hook.close()

    asyncio.run(scenario())  # once: first imports of a process
    # The parse costs about 23 ms of CPU here: a limit below it catches it on the loop.
    _, slow = run_watched(scenario(), cpu_limit=0.012)
    assert slow == []


def test_the_tls_context_is_the_librarys_and_the_client_has_every_attribute_the_librarys_has() -> None:
    cfg = async_client.Configuration(host="https://127.0.0.1:6443")
    cfg.verify_ssl = False
    cfg.disable_strict_ssl_verification = True
    context = shared_api_clients.tls_context(cfg)
    assert context.verify_mode == ssl.CERT_NONE
    assert not context.check_hostname
    assert not context.verify_flags & ssl.VERIFY_X509_STRICT

    async def both() -> tuple[set[str], set[str], set[str], set[str], str]:
        library = async_client.ApiClient(configuration=cfg)
        ours = await shared_api_clients.new_api_client(cfg)
        try:
            return (
                set(vars(library)), set(vars(ours)), set(vars(library.rest_client)), set(vars(ours.rest_client)),
                ours.user_agent,
            )  # fmt: skip
        finally:
            await library.close()
            await ours.close()

    library_attrs, our_attrs, library_rest, our_rest, agent = asyncio.run(both())
    assert our_attrs == library_attrs
    assert our_rest == library_rest
    assert agent.startswith("airflow-provider-kuberay/")
