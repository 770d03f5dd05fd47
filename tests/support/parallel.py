"""
How ``make test`` shares the suite between pytest-xdist workers (``-n 2``).

Each worker is a session of its own: its own AIRFLOW_HOME, Ray head and Kubernetes harness (pod
network, ports and run directory are picked free, so two harnesses run side by side). The k8s tier
mostly waits on pods and controllers: run alone in one process it kept the 2-core machine 41-44% busy.
Measured 2026-11-30: the k8s and deploy tiers took 19.4 min in two workers (23.3 + 5.3 min in one
process), the whole suite 26.4 min (38.4).

A test module goes to one worker whole (its module fixtures are made once), in collection order (tiers
as listed on the command line); the deploy tier goes whole to one worker, so one Airflow deployment is
started, not one per worker.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

# The tier whose modules share one costly session fixture (a real Airflow deployment).
WHOLE_TIERS = ("tests/deploy/",)


def scope_of(nodeid: str) -> str:
    """The unit of work a test belongs to: its whole tier when that tier is shared, else its module."""
    for tier in WHOLE_TIERS:
        if nodeid.startswith(tier):
            return tier
    return nodeid.split("::", 1)[0]


class ModuleAndTierScheduling(LoadScopeScheduling):
    """xdist's per-scope scheduling with ``scope_of`` as the scope, in collection order."""

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)
