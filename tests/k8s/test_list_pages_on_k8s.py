"""Lists are read in pages on the real API server: its continue tokens, its snapshot version for the watch."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_kuberay.hooks import kube_operations
from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
from airflow_provider_kuberay.hooks.kuberay_async import KubeRayAsyncHook

pytestmark = pytest.mark.k8s

COUNT = 5  # in pages of 2: three pages


def _suspended_rayjob(name: str, label: str) -> dict[str, Any]:
    # Suspended: the KubeRay operator makes no cluster for it.
    container = {"name": "ray-head", "image": "rayproject/ray:2.52.0"}
    return {
        "metadata": {"name": name, "labels": {"list-pages": label}},
        "spec": {
            "entrypoint": "python -c 'print(1)'",
            "suspend": True,
            "rayClusterSpec": {
                "rayVersion": "2.52.0",
                "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [container]}}},
            },
        },
    }


@pytest.fixture
def paged_rayjobs(kuberay_conn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str | None]]]:
    """COUNT suspended RayJobs under a label of this test; the continue tokens of each page read."""
    monkeypatch.setattr(kube_operations, "LIST_PAGE", 2)
    tokens: list[str | None] = []
    call_json = kube_operations.call_json

    def recording(policy: Any, request: kube_operations.KubeRequest, **kwargs: Any) -> Any:
        if (request.query or {}).get("limit"):
            tokens.append((request.query or {}).get("continue"))
        return call_json(policy, request, **kwargs)

    monkeypatch.setattr(kube_operations, "call_json", recording)
    label = uuid.uuid4().hex[:10]
    hook = KubeRayHook()
    for index in range(COUNT):
        hook.create_object("RayJob", _suspended_rayjob(f"paged-{label}-{index}", label))
    try:
        yield label, tokens
    finally:
        for index in range(COUNT):
            hook.delete_object("RayJob", f"paged-{label}-{index}")


def test_the_hooks_and_the_watch_read_every_page(paged_rayjobs: tuple[str, list[str | None]]) -> None:
    label, tokens = paged_rayjobs
    selector = f"list-pages={label}"
    names = sorted(f"paged-{label}-{index}" for index in range(COUNT))
    assert sorted(o["metadata"]["name"] for o in KubeRayHook().list_objects("RayJob", label_selector=selector)) == names
    assert len(tokens) == 3, tokens
    assert tokens[0] is None
    assert all(tokens[1:]), tokens  # the server's own continue tokens

    async def watch() -> tuple[list[str], list[str]]:
        async with KubeRayAsyncHook() as hook:
            events = hook.watch_objects("RayJob", None, label_selector=selector)
            listed = [(await asyncio.wait_for(events.__anext__(), 30))[1]["metadata"]["name"] for _ in range(COUNT)]
            await hook.patch_object("RayJob", names[0], {"metadata": {"labels": {"touched": "yes"}}})
            then: list[str] = []
            while True:  # the operator's own updates may come first
                event_type, obj = await asyncio.wait_for(events.__anext__(), 30)
                then.append(event_type)
                if (obj["metadata"].get("labels") or {}).get("touched") == "yes":
                    await events.aclose()
                    return listed, then

    listed, then = asyncio.run(watch())
    assert sorted(listed) == names
    # Watched from the paged list's snapshot: nothing listed comes again as ADDED.
    assert then[-1] == "MODIFIED"
    assert "ADDED" not in then, then
    assert len(tokens) == 6, tokens
