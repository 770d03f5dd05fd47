"""
Ship a Python function to a Ray job and bring its return value back, across Python versions.

The function travels as source (decorators removed through the AST, not by text matching) with
JSON arguments, inside the job's entrypoint; the driver prints the JSON result after a marker line
that the task finds in the job's log. Source and JSON, unlike pickles, do not depend on the Python
versions of Airflow and of the Ray image being the same.
"""

from __future__ import annotations

import ast
import base64
import inspect
import json
import shlex
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

RESULT_MARKER = "AIRFLOW_KUBERAY_RESULT:"
# Kept to syntax every Python 3 that Ray images ship understands.
_BOOTSTRAP = (
    "import base64, json, sys\n"
    "call = json.loads(base64.b64decode(sys.argv[1]))\n"
    "scope = {'__name__': 'airflow_kuberay_task'}\n"
    "exec(compile(call['source'], call['filename'], 'exec'), scope)\n"
    "result = scope[call['name']](*call['args'], **call['kwargs'])\n"
    "print('\\n" + RESULT_MARKER + "' + base64.b64encode(json.dumps(result).encode()).decode(), flush=True)\n"
)


def function_source(function: Callable[..., Any]) -> str:
    """The function's own definition, without its decorators, as source text."""
    name = function.__name__
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError) as err:
        raise ValueError(f"the source of {name!r} is not available to ship to Ray: {err}") from None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            if isinstance(node, ast.AsyncFunctionDef):
                raise ValueError(f"{name!r} is async; @task.kuberay runs plain functions")
            node.decorator_list = []
            return ast.unparse(ast.Module(body=[node], type_ignores=[]))
    raise ValueError(f"no definition of {name!r} found in its source (lambdas cannot be shipped)")


def build_entrypoint(function: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    """
    The RayJob entrypoint that runs ``function(*args, **kwargs)`` and prints its JSON result.

    :raises ValueError: when the source is unavailable or an argument is not JSON-serializable.
    """
    try:
        call = json.dumps(
            {
                "source": function_source(function),
                "filename": f"<airflow task {function.__name__}>",
                "name": function.__name__,
                "args": list(args),
                "kwargs": dict(kwargs),
            }
        )
    except TypeError as err:
        raise ValueError(f"arguments of {function.__name__!r} must be JSON-serializable: {err}") from None
    payload = base64.b64encode(call.encode()).decode()
    return f"python -c {shlex.quote(_BOOTSTRAP)} {payload}"


def extract_result(log: str) -> Any:
    """The function's return value from the job's log (the last result line wins)."""
    for line in reversed(log.splitlines()):
        marker_at = line.find(RESULT_MARKER)
        if marker_at >= 0:
            encoded = line[marker_at + len(RESULT_MARKER) :].strip()
            return json.loads(base64.b64decode(encoded))
    raise ValueError("the job's log has no result line: the function did not return (see the log above)")
