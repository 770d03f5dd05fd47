"""One concise error, naming the connection and its field, for a connection that cannot work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow_provider_kuberay.exceptions import KubeRayConnectionError


def connection_problem(conn_attr: str, conn_id: str | None, err: BaseException) -> str:
    """
    The message of a bad connection: ``kuberay_conn_id 'k8s': context 'x' not found in kubeconfig``.

    :param conn_attr: the parameter that names the connection, e.g. ``kuberay_conn_id``.
    :param conn_id: the connection's id.
    :param err: what was found wrong (its message must already name the field).
    """
    text = " ".join(str(err).split()) or type(err).__name__
    repeated = f"connection {conn_id!r}: "
    if text.startswith(repeated):
        text = text[len(repeated) :]
    return f"{conn_attr} {conn_id!r}: {text}"


@contextmanager
def named_connection_errors(conn_attr: str, conn_id: str | None, *also: type[BaseException]) -> Iterator[None]:
    """
    Turn a ``ValueError``/``TypeError`` (and ``also``) raised while reading a connection into a
    :class:`KubeRayConnectionError` naming the connection, without the chained traceback.

    :param conn_attr: the parameter that names the connection, e.g. ``kuberay_conn_id``.
    :param conn_id: the connection's id.
    :param also: further exception types to translate, e.g. the Kubernetes client's ``ConfigException``.
    """
    translated: tuple[type[BaseException], ...] = (ValueError, TypeError, *also)
    try:
        yield
    except KubeRayConnectionError:
        raise
    except translated as err:
        raise KubeRayConnectionError(connection_problem(conn_attr, conn_id, err)) from None
