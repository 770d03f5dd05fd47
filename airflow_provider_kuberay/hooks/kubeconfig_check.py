"""Check an inline kubeconfig before the Kubernetes client uses it, with errors naming what is wrong."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _named(document: Mapping[str, Any], section: str) -> dict[str, Mapping[str, Any]]:
    entries = document.get(section) or []
    if not isinstance(entries, list):
        raise ValueError(f"kube_config: {section} must be a list")
    named: dict[str, Mapping[str, Any]] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise ValueError(f"kube_config: every entry of {section} needs a name")
        named[entry["name"]] = entry
    return named


def check_kubeconfig(document: Mapping[str, Any], context: str | None) -> str:
    """
    Check that a kubeconfig can reach a cluster with the chosen context; return that context's name.

    The errors name the context, cluster or user at fault, never a credential.

    :param document: the parsed kubeconfig.
    :param context: the connection's ``cluster_context`` (``None``: the kubeconfig's current-context).
    :raises ValueError: the context, its cluster (or the cluster's server) or its user is missing.
    """
    contexts = _named(document, "contexts")
    name = context or document.get("current-context")
    if not name:
        raise ValueError("kube_config has no current-context: set one, or cluster_context in the connection")
    if name not in contexts:
        known = ", ".join(sorted(contexts)) or "none"
        raise ValueError(f"context {name!r} not found in kubeconfig (contexts: {known})")
    entry = contexts[name].get("context") or {}
    cluster_name, user_name = entry.get("cluster"), entry.get("user")
    clusters = _named(document, "clusters")
    if cluster_name not in clusters:
        raise ValueError(f"context {name!r} uses cluster {cluster_name!r}, which the kubeconfig does not define")
    if not (clusters[cluster_name].get("cluster") or {}).get("server"):
        raise ValueError(f"cluster {cluster_name!r} of the kubeconfig has no server URL")
    if user_name is not None and user_name not in _named(document, "users"):
        raise ValueError(f"context {name!r} uses user {user_name!r}, which the kubeconfig does not define")
    return str(name)
