"""Throw-away PKI for the harness: a CA, the API server's serving cert, the service-account key."""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    issuer_name: x509.Name | None,
    issuer_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    *,
    ca: bool,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        b = b.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def make_pki(d: Path, kubelet_ip: str, apiserver_ips: tuple[str, ...] = ()) -> dict[str, Path]:
    """Write ca.crt, apiserver.{crt,key}, kubelet.{crt,key}, sa.{key,pub} into d; return their paths.

    apiserver_ips: more addresses the API server is reached at (the node gateway, for pods).
    """
    d.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("kuberay-harness-ca", ca_key, None, ca_key, ca=True)
    srv_key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.DNSName("kubernetes"),
        x509.DNSName("kubernetes.default"),
        x509.DNSName("kubernetes.default.svc"),
        x509.DNSName("kubernetes.default.svc.cluster.local"),
        *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in apiserver_ips),
    ]
    srv = _cert("kube-apiserver", srv_key, ca.subject, ca_key, ca=False, sans=sans)
    kubelet_key = ec.generate_private_key(ec.SECP256R1())
    kubelet = _cert(
        "kuberay-harness-node",
        kubelet_key,
        ca.subject,
        ca_key,
        ca=False,
        sans=[x509.IPAddress(ipaddress.ip_address(kubelet_ip))],
    )
    # Service-account tokens are signed with RSA, which every component accepts.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    paths = {
        "ca": d / "ca.crt",
        "cert": d / "apiserver.crt",
        "key": d / "apiserver.key",
        "sa_key": d / "sa.key",
        "sa_pub": d / "sa.pub",
        "kubelet_cert": d / "kubelet.crt",
        "kubelet_key": d / "kubelet.key",
    }
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(srv.public_bytes(serialization.Encoding.PEM))
    _write_key(paths["key"], srv_key)
    paths["kubelet_cert"].write_bytes(kubelet.public_bytes(serialization.Encoding.PEM))
    _write_key(paths["kubelet_key"], kubelet_key)
    _write_key(paths["sa_key"], sa_key)
    paths["sa_pub"].write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return paths


def loopback_serving_pair(d: Path) -> tuple[Path, Path]:
    """Write tls.crt and tls.key into d: a self-signed certificate for a server on 127.0.0.1."""
    d.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert("127.0.0.1", key, None, key, ca=False, sans=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    crt_path, key_path = d / "tls.crt", d / "tls.key"
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key_path, key)
    return crt_path, key_path


# name -> (user, groups).  The controller manager's user is the one bootstrap RBAC already binds;
# the operator and the kubelet get explicit bindings (rbac/*.yaml) so RBAC is really exercised.
IDENTITIES: dict[str, tuple[str, list[str]]] = {
    "admin": ("kuberay-harness-admin", ["system:masters"]),
    "controller-manager": ("system:kube-controller-manager", []),
    "operator": ("kuberay-operator", []),
    "kubelet": ("kuberay-harness-kubelet", []),
    "kueue": ("kueue-controller", []),
}


def make_tokens(path: Path) -> dict[str, str]:
    """Write a static token file for the API server and return name -> bearer token."""
    tokens = {name: secrets.token_hex(24) for name in IDENTITIES}
    lines = []
    for name, (user, groups) in IDENTITIES.items():
        lines.append(f'{tokens[name]},{user},{user},"{",".join(groups)}"')
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return tokens


def kubeconfig(server: str, ca: Path, token: str, user: str, namespace: str = "default") -> str:
    """A one-context kubeconfig (YAML is a JSON superset; JSON avoids a YAML dependency)."""
    import json

    return (
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "kuberay-harness", "cluster": {"server": server, "certificate-authority": str(ca)}}
                ],
                "users": [{"name": user, "user": {"token": token}}],
                "contexts": [
                    {
                        "name": "kuberay-harness",
                        "context": {"cluster": "kuberay-harness", "user": user, "namespace": namespace},
                    }
                ],
                "current-context": "kuberay-harness",
            },
            indent=2,
        )
        + "\n"
    )
