"""
Keep the certificates and keys embedded in an inline kubeconfig off the disk.

The Kubernetes clients hand TLS material to Python's ``ssl`` module, which reads files only; given
``client-key-data`` they write it to a temporary file in clear that lives until the process exits
(a triggerer: for days). Here each embedded item becomes an anonymous in-memory file of this
process (Linux ``memfd``), named ``/proc/self/fd/N``: nothing is written to any file system and it
vanishes with the process. Where memfd is unavailable the document is left as it is.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import os
import threading
from collections.abc import Mapping
from typing import Any

# (section, entry key, embedded data field, file field the clients read instead)
_EMBEDDED = (
    ("clusters", "cluster", "certificate-authority-data", "certificate-authority"),
    ("users", "user", "client-certificate-data", "client-certificate"),
    ("users", "user", "client-key-data", "client-key"),
)
# One in-memory file per distinct content, for the life of the process (like the clients' own cache).
_FILES: dict[str, int] = {}
_LOCK = threading.Lock()


def memory_file(content: bytes) -> str | None:
    """
    A path from which this process reads ``content``, held in memory only; ``None`` without memfd.

    :param content: the bytes (a PEM certificate or key).
    """
    create = getattr(os, "memfd_create", None)
    if create is None:
        return None
    key = hashlib.sha256(content).hexdigest()
    with _LOCK:
        fd = _FILES.get(key)
        if fd is None:
            fd = create("kuberay-credential", getattr(os, "MFD_CLOEXEC", 0))
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
            _FILES[key] = fd
    return f"/proc/self/fd/{fd}"


def _decoded(value: Any, field: str, name: str) -> bytes:
    try:
        return base64.standard_b64decode(str(value).encode())
    except (binascii.Error, ValueError):
        raise ValueError(f"kube_config: {field} of {name!r} is not base64") from None


def in_memory_credentials(document: Mapping[str, Any]) -> dict[str, Any]:
    """
    A copy of a kubeconfig whose embedded certificates and keys (``*-data``) are read from
    in-memory files instead; the document itself when memfd is unavailable.

    :param document: the parsed kubeconfig.
    :raises ValueError: an embedded item is not base64 (named, never echoed).
    """
    if getattr(os, "memfd_create", None) is None:
        return dict(document)
    result = copy.deepcopy(dict(document))
    for section, key, data_field, file_field in _EMBEDDED:
        for entry in result.get(section) or []:
            body = entry.get(key) if isinstance(entry, dict) else None
            if not isinstance(body, dict) or not body.get(data_field):
                continue
            path = memory_file(_decoded(body.pop(data_field), data_field, entry.get("name")))
            body[file_field] = path
    return result


def mask_kubeconfig_secrets(document: Mapping[str, Any]) -> None:
    """Register the kubeconfig's tokens, passwords and keys with Airflow's log masker."""
    from airflow.sdk.log import mask_secret

    for entry in document.get("users") or []:
        user = entry.get("user") if isinstance(entry, Mapping) else None
        if not isinstance(user, Mapping):
            continue
        for field in ("token", "password", "client-key-data"):
            if user.get(field):
                mask_secret(str(user[field]))
