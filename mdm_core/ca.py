"""The built-in certificate authority that issues device identities and signs profiles.

One self-signed RSA CA per installation. Its private key is stored encrypted with a
password derived from the application's ``SECRET_KEY``, so a database dump alone does
not give away the key that every device identity chains to.
"""
from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_SIZE = 2048
_BACKDATE = dt.timedelta(minutes=5)  # tolerate device clocks that run slightly behind


class CAError(ValueError):
    """A CA certificate or key cannot be used; the message says why."""


@dataclass(frozen=True)
class Identity:
    """A certificate and the private key that belongs to it."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey


def _validity(days: int) -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.timezone.utc)
    return now - _BACKDATE, now + dt.timedelta(days=days)


def create_ca(common_name: str, organization: str, *, days: int = 3650) -> Identity:
    """Create a self-signed RSA 2048 CA allowed to sign certificates and CRLs."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )
    not_before, not_after = _validity(days)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Identity(certificate, key)


def _end_entity_builder(
    ca: Identity, public_key, subject: x509.Name, days: int | None, serial: int | None
) -> x509.CertificateBuilder:
    not_before, requested_end = _validity(days or 0)
    ca_end = ca.certificate.not_valid_after_utc
    not_after = ca_end if days is None else min(requested_end, ca_end)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(*, key_encipherment: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def issue_certificate(
    ca: Identity,
    public_key,
    subject: x509.Name,
    *,
    days: int | None,
    client_auth: bool = True,
    serial: int | None = None,
    email_addresses: Sequence[str] = (),
) -> x509.Certificate:
    """Issue an end-entity certificate (a device or user identity) for ``public_key``.

    The validity never outlasts the CA's own certificate; ``days=None`` makes it end with the CA's.
    ``email_addresses`` become ``rfc822Name`` subject alternative names, and e-mail protection (S/MIME)
    joins the usages.
    """
    builder = _end_entity_builder(ca, public_key, subject, days, serial).add_extension(
        _key_usage(key_encipherment=isinstance(public_key, rsa.RSAPublicKey)), critical=True
    )
    usages = ([ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else []) + (
        [ExtendedKeyUsageOID.EMAIL_PROTECTION] if email_addresses else [])
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if email_addresses:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(address) for address in email_addresses]), critical=False
        )
    return builder.sign(ca.private_key, hashes.SHA256())


def create_signing_identity(ca: Identity, common_name: str, *, days: int = 825) -> Identity:
    """Create a key and certificate for signing configuration profiles, issued by ``ca``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    organization = ca.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if organization:
        subject = x509.Name([*subject, organization[0]])
    certificate = (
        _end_entity_builder(ca, key.public_key(), subject, days, None)
        .add_extension(_key_usage(key_encipherment=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CODE_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]
            ),
            critical=False,
        )
        .sign(ca.private_key, hashes.SHA256())
    )
    return Identity(certificate, key)


def _key_password(secret: bytes) -> bytes:
    """Derive the key-encryption password from the application secret (HKDF-SHA256)."""
    if not secret:
        raise CAError("an empty secret cannot protect the CA key")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"mdm-ca-key").derive(secret)
    return base64.urlsafe_b64encode(derived)


def encrypt_private_key(key: rsa.RSAPrivateKey, secret: bytes) -> bytes:
    """PEM PKCS#8 of ``key``, encrypted with a password derived from ``secret``."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(_key_password(secret)),
    )


def _load_private_key(pem: bytes, password: bytes | None) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except TypeError as exc:  # encrypted without a password, or a password for a plain key
        raise CAError(f"cannot load the private key: {exc}") from None
    except ValueError:
        if password is None:
            raise CAError("cannot load the private key: not a PEM private key") from None
        raise CAError("cannot decrypt the private key: wrong secret or not a PEM private key") from None
    except Exception as exc:  # unsupported algorithms and other parser failures
        raise CAError(f"cannot load the private key: {exc.__class__.__name__}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CAError("the private key must be an RSA key")
    return key


def decrypt_private_key(pem: bytes, secret: bytes) -> rsa.RSAPrivateKey:
    """Load a key written by :func:`encrypt_private_key` with the same ``secret``."""
    return _load_private_key(pem, _key_password(secret))


def identity_to_pem(identity: Identity, secret: bytes) -> tuple[bytes, bytes]:
    """The certificate PEM and the encrypted key PEM, ready to store."""
    return (
        identity.certificate.public_bytes(serialization.Encoding.PEM),
        encrypt_private_key(identity.private_key, secret),
    )


def identity_from_pem(cert_pem: bytes, key_pem: bytes, secret: bytes | None) -> Identity:
    """Load a stored identity; ``secret=None`` means ``key_pem`` is not encrypted
    (a CA an administrator supplies). The key must belong to the certificate."""
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise CAError("cannot load the certificate: not a PEM certificate") from None
    key = _load_private_key(key_pem, None) if secret is None else decrypt_private_key(key_pem, secret)
    try:
        belongs = key.public_key() == certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise CAError("cannot read the certificate's public key") from None
    if not belongs:
        raise CAError("the private key does not belong to the certificate")
    return Identity(certificate, key)


def certificate_fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, as lowercase hex."""
    return certificate.fingerprint(hashes.SHA256()).hex()
