"""``[core] hostname_callable`` of the deploy tier's components: the host name each was given."""

from __future__ import annotations

import os


def from_environment() -> str:
    """The name the deployment gave this process (``DEPLOY_HOSTNAME``); loopback, where it serves its logs."""
    return os.environ.get("DEPLOY_HOSTNAME", "127.0.0.1")
