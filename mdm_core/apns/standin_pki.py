"""Certificates for the local APNs stand-in: a stand-in "Apple" push CA with an MDM push
certificate it issued, and a TLS server certificate for the stand-in itself.

Nothing here is trusted by a real device or by Apple; it lets tests and demos exercise the
real client over real TLS with client-certificate authentication.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..ca import Identity, create_ca


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(identity: Identity) -> tuple[bytes, bytes]:
    return (identity.certificate.public_bytes(serialization.Encoding.PEM),
            identity.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))


def issue_push_certificate(push_ca: Identity, topic: str | None = None, *, not_before: dt.datetime | None = None,
                           not_after: dt.datetime | None = None, key: rsa.RSAPrivateKey | None = None) -> Identity:
    """An MDM push certificate shaped like Apple's: ``UID=<topic>, CN=APSP:<uuid>, C=US``, client auth."""
    key = key or _key()
    topic = topic or f"com.apple.mgmt.External.{uuid.uuid4()}"
    now = dt.datetime.now(dt.timezone.utc)
    subject = x509.Name([
        x509.NameAttribute(NameOID.USER_ID, topic),
        x509.NameAttribute(NameOID.COMMON_NAME, f"APSP:{topic.rsplit('.', 1)[-1]}"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
    ])
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(push_ca.certificate.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(minutes=5))
        .not_valid_after(not_after or now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(push_ca.private_key, hashes.SHA256())
    )
    return Identity(certificate, key)


def issue_server_certificate(ca: Identity, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Identity:
    """A TLS server certificate for the stand-in, valid for ``hosts``."""
    key = _key()
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca.certificate.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()), critical=False)
        .sign(ca.private_key, hashes.SHA256())
    )
    return Identity(certificate, key)


@dataclass(frozen=True)
class StandinPki:
    """Everything a stand-in run needs: who may push (push CA), who it is (server identity)."""

    push_ca: Identity
    push: Identity
    server_ca: Identity
    server: Identity

    @property
    def topic(self) -> str:
        return str(self.push.certificate.subject.get_attributes_for_oid(NameOID.USER_ID)[0].value)

    def write(self, directory: Path) -> dict[str, Path]:
        """Write the PEM files (keys unencrypted, mode 0600) and return their paths by role."""
        directory.mkdir(parents=True, exist_ok=True)
        files = {}
        for role, identity in (("push", self.push), ("server", self.server)):
            cert_pem, key_pem = _pem(identity)
            files[f"{role}_cert"] = directory / f"{role}-cert.pem"
            files[f"{role}_key"] = directory / f"{role}-key.pem"
            files[f"{role}_cert"].write_bytes(cert_pem)
            files[f"{role}_key"].touch(mode=0o600)
            files[f"{role}_key"].write_bytes(key_pem)
        files["push_ca"] = directory / "push-ca.pem"
        files["push_ca"].write_bytes(_pem(self.push_ca)[0])
        files["server_ca"] = directory / "server-ca.pem"
        files["server_ca"].write_bytes(_pem(self.server_ca)[0])
        return files


def create_standin_pki(topic: str | None = None) -> StandinPki:
    """Fresh CAs, an MDM push certificate for ``topic`` (random when None) and a server identity."""
    push_ca = create_ca("Stand-in Apple Application Integration CA", "APNs stand-in")
    server_ca = create_ca("Stand-in APNs Server CA", "APNs stand-in")
    return StandinPki(push_ca, issue_push_certificate(push_ca, topic), server_ca, issue_server_certificate(server_ca))
