"""
The real Ray dashboard vanishing mid-job behind a fault-injecting proxy (issue 8.2): the task
retries and carries on, and its log holds every line the job printed exactly once; a dashboard
that stays away fails the task with its URL and the last error, within the retry bound.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_kuberay.exceptions import RayJobFailedError
from airflow_provider_kuberay.operators import KubeRaySubmitJobOperator
from tests.support.airflow_context import context_for
from tests.support.tcp_fault_proxy import VanishingProxy

pytestmark = pytest.mark.ray

COUNT = 40
PROGRAM = (
    f"import time\nfor i in range(1, {COUNT + 1}):\n    print(f'seq {{i:03d}}', flush=True)\n    time.sleep(0.15)\n"
)


@pytest.fixture
def proxy(ray_head: Any) -> Iterator[VanishingProxy]:
    proxy = VanishingProxy(int(urlsplit(ray_head.dashboard_url).port or 0)).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def _operator(proxy: VanishingProxy) -> KubeRaySubmitJobOperator:
    return KubeRaySubmitJobOperator(
        task_id="faults",
        entrypoint=f'python -c "{PROGRAM}"',
        submission_id=f"faults-{uuid.uuid4().hex[:8]}",
        dashboard_url=proxy.url,
        ray_dashboard_conn_id=None,
        poll_interval=0.2,
        deferrable=False,
    )


def test_dashboard_outage_mid_job_loses_and_repeats_no_line(
    proxy: VanishingProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    def outage_once_streaming() -> None:
        time.sleep(2.5)
        # Shorter than any sum of the status path's jittered backoffs is likely to be (5 attempts): the
        # outage is to be survived; the next test proves the bound.
        proxy.cut(down_for=0.5)

    threading.Thread(target=outage_once_streaming, daemon=True).start()
    assert _operator(proxy).execute(context_for())  # type: ignore[arg-type]
    output = capsys.readouterr().out
    assert proxy.cuts == 1
    assert proxy.refused > 0  # clients did hit the outage
    assert re.findall(r"\[ray\] (seq \d{3})", output) == [f"seq {i:03d}" for i in range(1, COUNT + 1)]


def test_dashboard_gone_for_good_fails_clearly_within_the_bound(proxy: VanishingProxy) -> None:
    def outage() -> None:
        time.sleep(1.5)
        proxy.cut(down_for=600)

    threading.Thread(target=outage, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(RayJobFailedError) as info:
        _operator(proxy).execute(context_for())  # type: ignore[arg-type]
    message = str(info.value)
    assert f"Ray dashboard at {proxy.url} unreachable" in message
    assert "after 5 attempts" in message
    assert time.monotonic() - started < 40
