"""
The ``kuberay`` connection read into a plan for a Kubernetes client: which credentials to load and
how. Pure but for the kubeconfig's secrets (masked in logs, keys moved to memory); both Kubernetes
hooks build the same plan and carry it out with their own client library.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_kuberay.hooks import kube_resources as kr
from airflow_provider_kuberay.hooks.connection_fields import as_flag
from airflow_provider_kuberay.hooks.kubeconfig_check import check_kubeconfig
from airflow_provider_kuberay.hooks.kubeconfig_memory import in_memory_credentials, mask_kubeconfig_secrets
from airflow_provider_kuberay.hooks.retry import RetryPolicy

CONN_TYPE = "kuberay"


def connection_field(extras: Mapping[str, Any], name: str) -> Any:
    """
    A field of a ``kuberay`` connection's extras, ``None`` when unset or empty.

    :param extras: the connection's extras.
    :param name: the field, e.g. ``namespace``; the prefixed names older forms wrote
        (``extra__kuberay__namespace``, ``extra__kubernetes__namespace``) are read too.
    """
    for key in (name, f"extra__{CONN_TYPE}__{name}", f"extra__kubernetes__{name}"):
        value = extras.get(key)
        if value is not None and value != "":
            return value
    return None


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)


@dataclass(frozen=True)
class KubeClientPlan:
    """
    How to configure a Kubernetes client.

    :param in_cluster: load the pod's service account: ``True`` must, ``None`` try it first and
        else load the kubeconfig, ``False`` load the kubeconfig.
    :param kubeconfig: an inline kubeconfig (checked, secrets masked, keys in memory) to load.
    :param kube_config_path: else the kubeconfig file to load (``None``: the default one).
    :param context: the kubeconfig's context (``None``: its current one).
    :param disable_verify_ssl: TLS verification of the API server is turned off.
    """

    in_cluster: bool | None
    kubeconfig: dict[str, Any] | None = None
    kube_config_path: str | None = None
    context: str | None = None
    disable_verify_ssl: bool = False

    @classmethod
    def from_connection(
        cls,
        extras: Mapping[str, Any],
        *,
        cluster_context: str | None = None,
        config_file: str | None = None,
        config_dict: Mapping[str, Any] | None = None,
        in_cluster: bool | None = None,
        disable_verify_ssl: bool | None = None,
    ) -> KubeClientPlan:
        """
        The plan of a connection; the hook's own arguments win over its fields.

        :param extras: the connection's extras (``{}`` without a connection).
        :raises ValueError: naming the field at fault (conflicting sources, a missing file, a bad kubeconfig).
        """

        def field(name: str) -> Any:
            return connection_field(extras, name)

        context = _first(cluster_context, field("cluster_context"))
        path = _first(config_file, field("kube_config_path"))
        inline = field("kube_config")
        wanted_in_cluster = _first(in_cluster, as_flag(field("in_cluster"), "in_cluster"))
        source = kr.config_source(
            in_cluster=wanted_in_cluster, kube_config=inline, kube_config_path=path, config_dict=config_dict
        )
        verify_off = _first(disable_verify_ssl, as_flag(field("disable_verify_ssl"), "disable_verify_ssl")) is True
        if source == "in_cluster":
            return cls(in_cluster=True, disable_verify_ssl=verify_off)
        if source == "kube_config_path":
            return cls(False, kube_config_path=kr.existing_file(path), context=context, disable_verify_ssl=verify_off)
        if source == "default":
            return cls(None, context=context, disable_verify_ssl=verify_off)
        document = kr.parse_kubeconfig(inline if source == "kube_config" else config_dict)
        check_kubeconfig(document, context)
        mask_kubeconfig_secrets(document)
        # Keys and certificates never go to disk.
        return cls(False, kubeconfig=in_memory_credentials(document), context=context, disable_verify_ssl=verify_off)

    def fingerprint(self) -> str:
        """What tells plans apart: equal for the same credentials, a digest (it holds no secret in clear)."""
        document = json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(document.encode()).hexdigest()

    def load_in_cluster(self, load: Callable[..., Any], configuration: Any, not_configured: type[Exception]) -> bool:
        """
        Carry out the in-cluster part with a client library's ``load_incluster_config``.

        :param load: the library's ``load_incluster_config``.
        :param configuration: the client configuration to fill in.
        :param not_configured: the library's ``ConfigException`` (not in a pod).
        :return: whether the service account was loaded (else load the kubeconfig).
        """
        if self.in_cluster is False:
            return False
        try:
            load(client_configuration=configuration)
        except not_configured:
            if self.in_cluster:
                raise
            return False
        return True

    def finish(self, configuration: Any) -> None:
        """Apply what the plan adds to the loaded credentials (TLS verification turned off)."""
        if self.disable_verify_ssl:
            configuration.verify_ssl = False


def check_connection_fields(extras: Mapping[str, Any], conn_id: str | None) -> None:
    """
    Check a ``kuberay`` connection's namespace and dashboard fields without a request.

    :raises ValueError: naming the field at fault.
    """
    from airflow_provider_kuberay.hooks import dashboard_access as access
    from airflow_provider_kuberay.specs.names import validate_namespace

    namespace = connection_field(extras, "namespace") if conn_id else None
    if namespace:
        validate_namespace(namespace, "namespace")
    mode = access.parse_access_mode(connection_field(extras, "dashboard_access"), conn_id)
    access.check_connection_fields(mode, connection_field(extras, "dashboard_url"), conn_id)


class KubeRayConnectionMixin:
    """
    What both Kubernetes hooks are: hooks of a ``kuberay`` connection with a retry policy. Put it
    before the ``cncf.kubernetes`` hook class it completes.

    :param kuberay_conn_id: id of a ``kuberay`` connection (``None``: default credentials).
    :param retry_policy: retries for transient failures.
    :param kwargs: passed to the ``cncf.kubernetes`` hook: ``config_dict``, ``config_file``,
        ``cluster_context``, ``in_cluster``, ``disable_verify_ssl``, ``client_configuration``.
    """

    conn_name_attr = "kuberay_conn_id"
    default_conn_name = "kuberay_default"
    conn_type = CONN_TYPE

    def __init__(
        self, kuberay_conn_id: str | None = default_conn_name, *, retry_policy: RetryPolicy | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("kubernetes_conn_id", None)
        super().__init__(conn_id=kuberay_conn_id, **kwargs)  # type: ignore[call-arg]  # the Kubernetes hook
        self.kuberay_conn_id = kuberay_conn_id
        self.retry_policy = retry_policy or self._default_retry_policy()
        # The installed CRDs' schemas by kind, read at the first create (None: could not be read).
        self.crd_schemas: dict[str, Any] = {}

    def _default_retry_policy(self) -> RetryPolicy:
        return RetryPolicy()
