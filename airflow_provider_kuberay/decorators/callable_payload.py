"""
Ship a Python function to a Ray job and bring its return value back, across Python versions.

The function travels as source (decorators removed through the AST, not by text matching) with
JSON arguments. Small calls ride inside the entrypoint; larger ones (up to ``ARGUMENT_LIMIT_BYTES``)
travel as a tiny Python package in the runtime env's ``py_modules``, uploaded to the cluster before
the job is submitted, because a shell command line caps near 128 KiB. The driver prints the JSON
result as a line of :mod:`airflow_provider_kuberay.result`'s contract, with a nonce chosen per
submission, and the task reads that line back from the job's log. Source and JSON, unlike pickles,
do not depend on the Python versions of Airflow and of the Ray image being the same.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import inspect
import json
import shlex
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_kuberay.result import NONCE_ENV, RESULT_LIMIT_BYTES, RESULT_MARKER

# The largest call (source and arguments, as JSON) a decorated task ships.
ARGUMENT_LIMIT_BYTES = 16 * 1024 * 1024
# Entrypoints longer than this fail inside Ray's job supervisor (measured: 100,000 characters pass,
# 140,000 fail), so larger calls go through py_modules.
INLINE_LIMIT_CHARS = 96_000
_MODULE_PREFIX = "airflow_kuberay_call_"
_CALL_FILE = "call.json"
# Kept to syntax every Python 3 that Ray images ship understands; it writes the same line as
# airflow_provider_kuberay.result.result_line, which the Ray image need not have installed.
_BOOTSTRAP = (
    "import base64, importlib, json, os, sys\n"
    f"source, nonce = sys.argv[1], os.environ['{NONCE_ENV}']\n"
    "if source.startswith('module:'):\n"
    "    folder = os.path.dirname(importlib.import_module(source[7:]).__file__)\n"
    f"    with open(os.path.join(folder, '{_CALL_FILE}')) as handle:\n"
    "        call = json.load(handle)\n"
    "else:\n"
    "    call = json.loads(base64.b64decode(source))\n"
    "scope = {'__name__': 'airflow_kuberay_task'}\n"
    "exec(compile(call['source'], call['filename'], 'exec'), scope)\n"
    "result = scope[call['name']](*call['args'], **call['kwargs'])\n"
    "try:\n"
    "    text = json.dumps(result).encode()\n"
    "except (TypeError, ValueError) as err:\n"
    "    sys.exit('airflow-kuberay: the return value of %s is not JSON-serializable: %s' % (call['name'], err))\n"
    f"if len(text) > {RESULT_LIMIT_BYTES}:\n"
    "    sys.exit('airflow-kuberay: the return value of %s is %d bytes of JSON, more than the limit of "
    f"{RESULT_LIMIT_BYTES} bytes' % (call['name'], len(text)))\n"
    f"print('\\n{RESULT_MARKER}' + nonce + ':' + base64.b64encode(text).decode(), flush=True)\n"
)

__all__ = ["ARGUMENT_LIMIT_BYTES", "CallPayload", "function_source", "shipped"]


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
                raise ValueError(f"{name!r} is async; Ray tasks of this provider run plain functions")
            node.decorator_list = []
            _drop_annotations(node)
            return ast.unparse(ast.Module(body=[node], type_ignores=[]))
    raise ValueError(f"no definition of {name!r} found in its source (lambdas cannot be shipped)")


def _drop_annotations(node: ast.FunctionDef) -> None:
    """Annotations name types of the DAG file's imports, which the Ray side lacks; they do nothing there."""
    node.returns = None
    arguments = node.args
    for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]:
        if argument is not None:
            argument.annotation = None


@dataclass(frozen=True)
class CallPayload:
    """
    One call of a decorated function, ready to ship. The nonce of its result line comes from the
    environment (``AIRFLOW_KUBERAY_RESULT_NONCE``), set by the operator that submits it.

    :param name: the function's name.
    :param call_json: source, name and arguments as JSON text.
    """

    name: str
    call_json: str

    @classmethod
    def build(cls, function: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> CallPayload:
        """
        :raises ValueError: when the source is unavailable, an argument is not JSON-serializable, or
            the call is larger than ``ARGUMENT_LIMIT_BYTES`` -- all before anything is submitted.
        """
        name = function.__name__
        source = function_source(function)
        try:
            call_json = json.dumps(
                {
                    "source": source,
                    "filename": f"<airflow task {name}>",
                    "name": name,
                    "args": list(args),
                    "kwargs": dict(kwargs),
                }
            )
        except (TypeError, ValueError) as err:
            raise ValueError(f"arguments of {name!r} must be JSON-serializable: {err}") from None
        size = len(call_json.encode())
        if size > ARGUMENT_LIMIT_BYTES:
            raise ValueError(
                f"the arguments of {name!r} are {size} bytes of JSON, more than the limit of "
                f"{ARGUMENT_LIMIT_BYTES} bytes; pass a reference (a path or URI) to large data instead"
            )
        return cls(name=name, call_json=call_json)

    def _entrypoint(self, source: str) -> str:
        return f"python -c {shlex.quote(_BOOTSTRAP)} {shlex.quote(source)}"

    def inline_entrypoint(self) -> str | None:
        """The entrypoint carrying the whole call, or None when it would be too long for a command line."""
        entrypoint = self._entrypoint(base64.b64encode(self.call_json.encode()).decode())
        return entrypoint if len(entrypoint) <= INLINE_LIMIT_CHARS else None

    @property
    def module_name(self) -> str:
        """Named by content, so a retry finds the package it uploaded before."""
        return f"{_MODULE_PREFIX}{hashlib.sha256(self.call_json.encode()).hexdigest()[:24]}"

    def write_module(self, directory: Path) -> Path:
        """Write the call as a Python package under ``directory``, for ``runtime_env.py_modules``."""
        package = directory / self.module_name
        package.mkdir()
        (package / "__init__.py").write_text("")
        (package / _CALL_FILE).write_text(self.call_json)
        return package

    def module_entrypoint(self) -> str:
        """The entrypoint that reads the call from the package of :meth:`write_module`."""
        return self._entrypoint(f"module:{self.module_name}")


@contextmanager
def shipped(payload: CallPayload, runtime_env: Mapping[str, Any] | str | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """
    The entrypoint and runtime env that carry ``payload``: the call inside the entrypoint when it
    fits there, else as a package added to ``py_modules`` -- a local folder, to be uploaded to the
    cluster before submission, that exists while the context is open.
    """
    import tempfile

    from airflow_provider_kuberay.hooks.runtime_env import parse_runtime_env

    env = parse_runtime_env(runtime_env)
    inline = payload.inline_entrypoint()
    if inline is not None:
        yield inline, env
        return
    with tempfile.TemporaryDirectory(prefix="airflow-kuberay-call-") as folder:
        package = str(payload.write_module(Path(folder)))
        yield payload.module_entrypoint(), {**env, "py_modules": [*(env.get("py_modules") or []), package]}
