"""
How a Ray dashboard of a RayCluster is reached from Airflow: the pure part (mode choice, URLs) and
the translation of Kubernetes client credentials into a :class:`DashboardEndpoint`.

Modes of the ``kuberay`` connection's ``dashboard_access`` field:

- ``direct``: the head service's cluster DNS name, ``http://SVC.NS.svc.cluster.local:8265``;
- ``proxy``: the API server's service proxy, ``{api}/api/v1/namespaces/NS/services/SVC:dashboard/proxy``,
  authenticated like the Kubernetes client (bearer token or client certificate), same TLS settings;
- ``auto``: ``direct`` inside a pod, ``proxy`` elsewhere;
- ``url``: the connection's ``dashboard_url``, a format string that may use ``{cluster}`` and ``{namespace}``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

from airflow_provider_kuberay.hooks.dashboard_endpoint import DashboardEndpoint

DASHBOARD_ACCESS_MODES = ("auto", "proxy", "direct", "url")
DASHBOARD_PORT = 8265
DASHBOARD_PORT_NAME = "dashboard"
SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def parse_access_mode(value: Any, conn_id: str | None = None) -> str:
    """
    Validate a ``dashboard_access`` value; empty means ``auto``.

    :param value: the connection field's value.
    :param conn_id: the connection, named in the error.
    """
    mode = str(value or "auto").strip().lower()
    if mode not in DASHBOARD_ACCESS_MODES:
        raise ValueError(
            f"connection {conn_id!r}: dashboard_access must be one of {', '.join(DASHBOARD_ACCESS_MODES)}, got {mode!r}"
        )
    return mode


def running_in_pod(env: Mapping[str, str] | None = None, token_path: str = SERVICE_ACCOUNT_TOKEN) -> bool:
    """Whether this process runs in a Kubernetes pod with a service account (so cluster DNS resolves)."""
    env = os.environ if env is None else env
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(token_path)


def effective_mode(mode: str, *, in_pod: bool) -> str:
    """Resolve ``auto`` into ``direct`` (in a pod) or ``proxy``; other modes stay as they are."""
    if mode == "auto":
        return "direct" if in_pod else "proxy"
    return mode


def head_service_name(cluster_name: str, cluster: Mapping[str, Any] | None) -> str:
    """The head service of a RayCluster: ``status.head.serviceName``, else KubeRay's naming rule."""
    status = (cluster or {}).get("status") or {}
    name = (status.get("head") or {}).get("serviceName")
    return str(name) if name else f"{cluster_name}-head-svc"


def direct_url(service: str, namespace: str, port: int = DASHBOARD_PORT) -> str:
    """The dashboard's in-cluster URL through service DNS."""
    return f"http://{service}.{namespace}.svc.cluster.local:{port}"


def proxy_url(api_server: str, service: str, namespace: str, port_name: str = DASHBOARD_PORT_NAME) -> str:
    """The dashboard's URL through the API server's service proxy (no trailing slash)."""
    base = api_server.rstrip("/")
    return f"{base}/api/v1/namespaces/{quote(namespace, safe='')}/services/{quote(service, safe='')}:{port_name}/proxy"


def template_url(template: str | None, cluster_name: str, namespace: str, conn_id: str | None = None) -> str:
    """Fill an explicit ``dashboard_url`` (``{cluster}``, ``{namespace}`` placeholders allowed)."""
    if not template:
        raise ValueError(f"connection {conn_id!r}: dashboard_access is 'url' but dashboard_url is empty")
    try:
        return template.format(cluster=cluster_name, namespace=namespace)
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(
            f"connection {conn_id!r}: dashboard_url may only use {{cluster}} and {{namespace}}: {err!r}"
        ) from None


@dataclass(frozen=True)
class ApiServerAccess:
    """
    What a client needs to talk to the API server like the Kubernetes client does.

    :param host: the API server's base URL.
    :param headers: authentication headers (secret; never in ``repr``).
    :param verify: TLS verification: ``True``, ``False`` or a CA bundle path.
    :param client_cert: ``(certificate file, key file)`` when authenticating with a client certificate.
    """

    host: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    verify: bool | str = True
    client_cert: tuple[str, str] | None = None


def access_from_configuration(configuration: Any, auth: Mapping[str, Any]) -> ApiServerAccess:
    """
    Read an :class:`ApiServerAccess` from a ``kubernetes`` or ``kubernetes_asyncio`` Configuration.

    :param configuration: the client's configuration (host, TLS files, verify flag).
    :param auth: its ``auth_settings()`` (awaited for kubernetes_asyncio), which holds the bearer token.
    """
    headers: dict[str, str] = {}
    for setting in auth.values():
        if setting.get("in") == "header" and setting.get("value"):
            headers[str(setting["key"]).title()] = str(setting["value"])
    verify: bool | str
    if not configuration.verify_ssl:
        verify = False
    else:
        verify = str(configuration.ssl_ca_cert) if configuration.ssl_ca_cert else True
    cert = None
    if configuration.cert_file:
        cert = (str(configuration.cert_file), str(configuration.key_file or configuration.cert_file))
    return ApiServerAccess(host=str(configuration.host), headers=headers, verify=verify, client_cert=cert)


def endpoint_for(
    mode: str,
    *,
    cluster_name: str,
    namespace: str,
    service: str | None = None,
    access: ApiServerAccess | None = None,
    url_template: str | None = None,
    conn_id: str | None = None,
) -> DashboardEndpoint:
    """
    Build the endpoint for a resolved mode (``direct``, ``proxy`` or ``url``; not ``auto``).

    :param service: the head service (``direct`` and ``proxy``).
    :param access: the API server credentials (``proxy``).
    :param url_template: the connection's ``dashboard_url`` (``url``).
    """
    if mode == "url":
        return DashboardEndpoint(url=template_url(url_template, cluster_name, namespace, conn_id))
    if service is None:
        raise ValueError(f"dashboard access {mode!r} needs the head service name")
    if mode == "direct":
        return DashboardEndpoint(url=direct_url(service, namespace))
    if mode == "proxy":
        if access is None:
            raise ValueError("dashboard access 'proxy' needs the API server credentials")
        return DashboardEndpoint(
            url=proxy_url(access.host, service, namespace),
            headers=dict(access.headers),
            verify=access.verify,
            client_cert=access.client_cert,
        )
    raise ValueError(f"dashboard access must be resolved to direct, proxy or url, got {mode!r}")


# KubeRay keeps a token-auth cluster's Ray token under this key of a Secret named after the cluster
# (or ``spec.authOptions.secretName``).
RAY_TOKEN_SECRET_KEY = "auth_token"
# Through the API server's proxy ``Authorization`` carries the Kubernetes credential; Ray also
# reads its token from this header.
RAY_PROXY_AUTH_HEADER = "X-Ray-Authorization"


@dataclass(frozen=True)
class RayTokenSource:
    """
    Where the Ray token of a RayCluster with token auth on comes from.

    :param secret: the Secret KubeRay keeps the token in (key ``auth_token``); None with
        ``authOptions.enableK8sTokenAuth``, where Ray asks the API server (TokenReview, then a
        SubjectAccessReview for the verb ``ray:write`` on the RayCluster) whether the bearer token it
        receives is a Kubernetes credential allowed to use the cluster, so the caller's own one is sent.
    """

    secret: str | None = None

    @property
    def kubernetes(self) -> bool:
        """The token is the caller's own Kubernetes credential (no Secret to read)."""
        return self.secret is None


def ray_token_source(cluster: Mapping[str, Any] | None) -> RayTokenSource | None:
    """
    Where the Ray token of a RayCluster comes from, or None when its token auth is off.

    :param cluster: the RayCluster (None: not found, so nothing to authenticate to).
    """
    if not isinstance(cluster, Mapping):
        return None
    spec = cluster.get("spec")
    auth = spec.get("authOptions") if isinstance(spec, Mapping) else None
    if not isinstance(auth, Mapping) or auth.get("mode") != "token":
        return None
    if auth.get("enableK8sTokenAuth") is True:
        # KubeRay then creates no Secret (and refuses secretName): there is nothing to read.
        return RayTokenSource()
    name = str(auth.get("secretName") or cluster.get("metadata", {}).get("name") or "")
    return RayTokenSource(secret=name) if name else None


def kubernetes_bearer_token(api_server: ApiServerAccess, cluster: str, conn_id: str | None) -> str:
    """
    The bearer token the Kubernetes client authenticates with: the Ray token of a RayCluster with
    ``enableK8sTokenAuth``.

    :param api_server: the client's credentials.
    :param cluster: the RayCluster's ``namespace/name``, for the error.
    :param conn_id: the connection, named in the error.
    """
    value = api_server.headers.get("Authorization", "")
    if value[: len("bearer ")].lower() == "bearer " and value[len("bearer ") :].strip():
        return value[len("bearer ") :].strip()
    how = "a client certificate" if api_server.client_cert else "no bearer token"
    raise ValueError(
        f"RayCluster {cluster} has spec.authOptions.enableK8sTokenAuth: Ray accepts only a Kubernetes bearer"
        f" token, but connection {conn_id!r} authenticates with {how}; give it a credential that is a bearer"
        " token (a kubeconfig user with `token` or an exec plugin, or in_cluster with the pod's service"
        " account), whose identity may use the verb ray:write on that RayCluster"
    )


def check_rayjob_cluster(cluster: Mapping[str, Any] | None, where: str) -> None:
    """
    Refuse to put a RayJob on an existing RayCluster whose Ray tokens are Kubernetes credentials:
    KubeRay's own dashboard client (v1.6.2) looks for the token Secret such a cluster does not have
    ("failed to get auth secret"), so the RayJob would stay Running until its deadline.

    :param cluster: the RayCluster named by ``cluster_name`` (None: not found).
    :param where: its ``namespace/name``, for the error.
    """
    source = ray_token_source(cluster)
    if source is not None and source.kubernetes:
        raise ValueError(
            f"cluster_name: RayCluster {where} has spec.authOptions.enableK8sTokenAuth, and KubeRay (v1.6.2) cannot"
            " follow a RayJob on it (its dashboard client reads a token Secret such a cluster does not have);"
            " submit with KubeRaySubmitJobOperator(cluster_name=...) through the Jobs API instead"
        )


def ray_token_from_secret(secret: Mapping[str, Any], name: str) -> str:
    """
    The Ray token in a Secret as the API returns it (base64 ``data``).

    :param secret: the Secret.
    :param name: its ``namespace/name``, for the error.
    """
    import base64

    encoded = (secret.get("data") or {}).get(RAY_TOKEN_SECRET_KEY)
    if not encoded:
        raise ValueError(f"Secret {name} has no {RAY_TOKEN_SECRET_KEY!r}: it is not a KubeRay Ray-token Secret")
    return base64.b64decode(encoded).decode().strip()


def with_ray_token(endpoint: DashboardEndpoint, token: str, *, through_proxy: bool) -> DashboardEndpoint:
    """
    The endpoint sending the Ray token: ``X-Ray-Authorization`` through the API server's proxy,
    ``Authorization`` when the dashboard is reached directly.
    """
    header = RAY_PROXY_AUTH_HEADER if through_proxy else "Authorization"
    return replace(endpoint, headers={**endpoint.headers, header: f"Bearer {token}"})


def mask_endpoint_secrets(endpoint: DashboardEndpoint) -> None:
    """Register the endpoint's header values (tokens) with Airflow's log masker."""
    from airflow.sdk.log import mask_secret

    for value in endpoint.headers.values():
        mask_secret(value)
        if value.lower().startswith("bearer "):
            mask_secret(value[len("bearer ") :])


def check_connection_fields(mode: str, url_template: str | None, conn_id: str | None) -> None:
    """
    Check the dashboard fields of a ``kuberay`` connection without a request: an explicit
    ``dashboard_url`` must fill in to an http(s) URL.

    :param mode: the parsed ``dashboard_access``.
    :param url_template: the connection's ``dashboard_url``.
    :param conn_id: the connection, named in errors.
    """
    if mode == "url":
        url = template_url(url_template, "cluster", "namespace", conn_id)
        DashboardEndpoint(url=url)
