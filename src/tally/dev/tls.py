"""A private certificate authority for a network: `tally network init --tls`.

One CA (ECDSA P-256, SHA-256) signs a certificate for every node and every
etcd member. Each certificate names its hosts in subjectAltName (127.0.0.1
and localhost by default) and serves both ways (extendedKeyUsage serverAuth
and clientAuth): a node serves its API with it and presents it to etcd and
to its peers; an etcd member serves clients and peers with it and presents
it to the other members. Private keys are written mode 0600. For machines of
their own, issue certificates naming their host names (docs/network.md, TLS).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOCAL_HOSTS = ("127.0.0.1", "localhost")
CA_DAYS = 3650
CERT_DAYS = 825
CLOCK_SKEW = datetime.timedelta(hours=1)  # valid from an hour ago: a member whose clock is behind accepts it


@dataclass(frozen=True)
class Pem:
    """A certificate and its private key, PEM-encoded (the key as unencrypted PKCS #8)."""

    cert: bytes
    key: bytes


@dataclass(frozen=True)
class Authority:
    """A CA: its certificate and the key that signs the certificates it issues."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate alone: what clients, nodes and etcd members trust."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def pem(self) -> Pem:
        return Pem(self.cert_pem, _key_pem(self.key))


@dataclass(frozen=True)
class TlsDir:
    """Where a network's TLS files lie: ca.pem, ca-key.pem, <name>.pem and <name>-key.pem."""

    root: Path

    @property
    def ca(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca-key.pem"

    def cert(self, name: str) -> Path:
        return self.root / f"{name}.pem"

    def key(self, name: str) -> Path:
        return self.root / f"{name}-key.pem"


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def make_ca(common_name: str, days: int = CA_DAYS) -> Authority:
    """A fresh self-signed CA that may sign leaf certificates only (pathLenConstraint 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(cert, key)


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    """IP addresses as iPAddress entries, names as dNSName entries."""
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def issue(ca: Authority, common_name: str, hosts: Sequence[str] = LOCAL_HOSTS, days: int = CERT_DAYS) -> Pem:
    """A new key and a certificate for it, signed by `ca`, for `hosts`, usable as server and as client."""
    if not hosts:
        raise ValueError("a certificate needs at least one host name or address")
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(min(now + datetime.timedelta(days=days), ca.cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return Pem(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def write_private(path: Path, data: bytes) -> None:
    """Write a secret: created mode 0600 (an existing file is made 0600 first), parents created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(fd, 0o600)
        file.write(data)


def write_pair(pem: Pem, cert_path: Path, key_path: Path) -> None:
    """A certificate (mode 0644) and its key (mode 0600)."""
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(pem.cert)
    write_private(key_path, pem.key)


def write_authority(tls: TlsDir, common_name: str) -> Authority:
    """Make a CA and write it to tls.ca and tls.ca_key."""
    ca = make_ca(common_name)
    write_pair(ca.pem(), tls.ca, tls.ca_key)
    return ca


def read_authority(tls: TlsDir) -> Authority:
    """The CA `write_authority` wrote, to issue more certificates (a node that joins later)."""
    cert = x509.load_pem_x509_certificate(tls.ca.read_bytes())
    key = serialization.load_pem_private_key(tls.ca_key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return Authority(cert, key)
