"""
The stdout contract by which a Ray program hands a JSON value back to its Airflow task.

This module imports nothing from Airflow (nor from the rest of this package), so a Ray program can
use it wherever the package is installed, or copy the one-line format::

    from airflow_provider_kuberay.result import emit

    emit({"rows": 1234})

``emit`` prints one line, ``AIRFLOW_KUBERAY_RESULT:<nonce>:<base64 of the JSON>``. The nonce is
chosen by the task for each submission and given to the program in the environment variable
``AIRFLOW_KUBERAY_RESULT_NONCE`` (the decorators pass it on the command line instead); the task
reads back only a line that carries its own nonce, so output that merely looks like a result line
(a log echoed from elsewhere, a test fixture) is never taken for the result. The last such line wins.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
from typing import Any

RESULT_MARKER = "AIRFLOW_KUBERAY_RESULT:"
NONCE_ENV = "AIRFLOW_KUBERAY_RESULT_NONCE"
# Job metadata key that records the nonce, so a task that resumes or adopts a job finds it again.
NONCE_METADATA_KEY = "airflow_result_nonce"
# The largest result, as JSON text, that travels back through the job's log.
RESULT_LIMIT_BYTES = 16 * 1024 * 1024


def new_nonce() -> str:
    """A fresh nonce (hex, so it is also a valid Python identifier suffix)."""
    return secrets.token_hex(16)


def result_line(value: Any, nonce: str) -> str:
    """
    The line that carries ``value``.

    :raises ValueError: when the value is not JSON-serializable or is larger than the limit.
    """
    try:
        text = json.dumps(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"the result must be JSON-serializable: {err}") from None
    if len(text.encode()) > RESULT_LIMIT_BYTES:
        raise ValueError(
            f"the result is {len(text.encode())} bytes of JSON, more than the limit of {RESULT_LIMIT_BYTES} bytes"
        )
    return f"{RESULT_MARKER}{nonce}:{base64.b64encode(text.encode()).decode()}"


def emit(value: Any, nonce: str | None = None) -> None:
    """
    Print ``value`` as the job's result for the Airflow task that submitted the job.

    :param value: a JSON-serializable value.
    :param nonce: the task's nonce; by default the ``AIRFLOW_KUBERAY_RESULT_NONCE`` environment variable.
    :raises RuntimeError: when no nonce is given and the environment has none (the task did not ask
        for a result).
    """
    nonce = nonce or os.environ.get(NONCE_ENV)
    if not nonce:
        raise RuntimeError(f"{NONCE_ENV} is not set: the Airflow task did not ask for a result (return_result)")
    sys.stdout.write("\n" + result_line(value, nonce) + "\n")
    sys.stdout.flush()


def read_result(log: str, nonce: str) -> Any:
    """
    The value of the last result line carrying ``nonce`` in a job's log.

    :raises ValueError: when the log has no such line.
    """
    prefix = f"{RESULT_MARKER}{nonce}:"
    for line in reversed(log.splitlines()):
        at = line.find(prefix)
        if at >= 0:
            return json.loads(base64.b64decode(line[at + len(prefix) :].strip()))
    raise ValueError("the job's log has no result line of this task: the program did not return one (see the log)")
