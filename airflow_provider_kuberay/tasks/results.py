"""How a task asks its Ray job for a result (see :mod:`airflow_provider_kuberay.result`) and finds it again."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_kuberay.result import NONCE_ENV, NONCE_METADATA_KEY, read_result


def ask_for_result(runtime_env: Mapping[str, Any], metadata: Mapping[str, str], nonce: str) -> tuple[dict, dict]:
    """
    The runtime env and job metadata of a job asked for a result line carrying ``nonce``: the
    program reads the nonce from its environment, the task later from the job's metadata (so a
    resumed or retried task that adopts the job reads the nonce the job really has).
    """
    env_vars = dict(runtime_env.get("env_vars") or {})
    env_vars[NONCE_ENV] = nonce
    return {**runtime_env, "env_vars": env_vars}, {**metadata, NONCE_METADATA_KEY: nonce}


def result_from_log(log: str, metadata: Mapping[str, Any] | None, job: str) -> Any:
    """
    The JSON value the job emitted, from its log and the nonce in its metadata.

    :raises ValueError: when the job was not asked for a result, or emitted none.
    """
    nonce = (metadata or {}).get(NONCE_METADATA_KEY)
    if not nonce:
        raise ValueError(f"{job} was not submitted asking for a result (no {NONCE_METADATA_KEY} in its metadata)")
    try:
        return read_result(log, str(nonce))
    except ValueError as err:
        raise ValueError(f"{job}: {err}") from None
