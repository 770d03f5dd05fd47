"""
How pytest-xdist workers (``-n``) share the suite: ``make test`` runs the unit and real-Airflow tiers so.

Each worker is a session of its own: its own AIRFLOW_HOME, Ray head and Kubernetes harness (pod
network, ports and run directory are picked free, so two harnesses run side by side). A test module
goes to one worker whole (its module fixtures are made once), in collection order; the deploy tier goes
whole to one worker, so one Airflow deployment is started, not one per worker.

The k8s tier mostly waits (run alone in one process it kept the 2-core machine 41-44% busy), and on an
idle machine ``pytest -n 2 tests/deploy tests/k8s`` took 19.4 min instead of 28.6 and passed. In a cold
CI rehearsal, two workers each running Ray pods drove the load to 12 and four real-pod tests failed, so
``make test`` keeps those tiers in one process on a 2-core machine (2026-11-30).
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
