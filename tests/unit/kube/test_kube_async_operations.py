"""The async Kubernetes hook offers every operation of the sync one, with the same results and errors."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator

import pytest

from airflow_provider_kuberay.exceptions import KubeRayConflictError, KubeRayNotFoundError, KubeRayTimeoutError
from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.hooks.kuberay_async import KubeRayAsyncHook
from airflow_provider_kuberay.hooks.retry import RetryPolicy
from tests.support.fake_kube_api import FakeKubeApi, running_fake_kube_api

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)


@pytest.fixture
def api() -> Iterator[FakeKubeApi]:
    yield from running_fake_kube_api()


def test_every_public_operation_of_the_sync_hook_exists_awaitable() -> None:
    own = {name for name in vars(KubeRayHook) if not name.startswith("_") and callable(vars(KubeRayHook)[name])}
    own -= {"get_conn"}  # the async client is api_client_async()
    for name in own:
        method = getattr(KubeRayAsyncHook, name)
        assert asyncio.iscoroutinefunction(method) or inspect.isasyncgenfunction(method), name


def test_create_patch_delete_wait_and_config_maps(api: FakeKubeApi) -> None:
    async def scenario() -> None:
        async with KubeRayAsyncHook(None, config_dict=api.kubeconfig_dict(), retry_policy=FAST) as hook:
            await hook.check_connection()
            assert await hook.test_connection() == (True, "Kubernetes v1.33.0-fake reachable")
            dry = await hook.create_object("RayJob", {"metadata": {"name": "j"}}, dry_run=True)
            assert dry["metadata"]["name"] == "j"
            assert ("RayJob", "default", "j") not in api.objects
            job = await hook.create_object("RayJob", {"metadata": {"name": "j", "labels": {"a": "1"}}, "spec": {}})
            with pytest.raises(KubeRayConflictError):
                await hook.create_object("RayJob", {"metadata": {"name": "j"}})
            patched = await hook.patch_object("RayJob", "j", {"metadata": {"labels": {"a": None}}, "spec": {"x": 1}})
            assert patched["spec"] == {"x": 1}
            assert "a" not in (patched["metadata"].get("labels") or {})
            with pytest.raises(KubeRayNotFoundError):
                await hook.patch_object("RayJob", "nope", {})
            cm = await hook.create_config_map("j-code", {"main.py": "print(1)"}, owner=job, labels={"app": "x"})
            assert cm["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
            assert await hook.delete_config_map("j-code") is True
            assert await hook.delete_config_map("j-code") is False
            api.hold_deletion("RayJob", "default", "j", reads=2)
            assert await hook.delete_object("RayJob", "j", propagation="Background") is True
            assert api.calls("DELETE")[-1][2] == {"propagationPolicy": "Background"}
            with pytest.raises(KubeRayTimeoutError, match="RayJob default/j still exists"):
                await hook.wait_until_deleted("RayJob", "j", timeout=0, poll_interval=0.01)
            await hook.wait_until_deleted("RayJob", "j", timeout=10, poll_interval=0.01)
            assert await hook.delete_object("RayJob", "j") is False

    asyncio.run(scenario())
