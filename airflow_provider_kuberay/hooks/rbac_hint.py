"""Name the RBAC permission that a Kubernetes "forbidden" answer says is missing."""

from __future__ import annotations

import json
import re

# The API server's wording of an authorization denial (stable since Kubernetes 1.x).
_DENIAL = re.compile(
    r'cannot (?P<verb>[\w-]+) resource "(?P<resource>[^"]+)" in API group "(?P<group>[^"]*)"'
    r'(?: in the namespace "(?P<namespace>[^"]+)")?'
)


def missing_permission(text: str) -> str | None:
    """
    The permission a 403 answer's body says the caller lacks, in words a cluster admin can act on;
    ``None`` when the body is not an authorization denial.

    :param text: the body of the answer (a ``Status`` object, or its message).
    """
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("message"), str):
        text = document["message"]
    found = _DENIAL.search(text)
    if found is None:
        return None
    group = found["group"] or "core"
    where = f' in namespace "{found["namespace"]}"' if found["namespace"] else " cluster-wide"
    return (
        f'missing RBAC permission: verb "{found["verb"]}" on resource "{found["resource"]}" '
        f'(API group "{group}"){where}; the provider\'s Role (deploy/rbac-role.yaml in its README) grants it'
    )
