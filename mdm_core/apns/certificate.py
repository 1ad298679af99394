"""The MDM push certificate: load it (PEM or PKCS#12), check it is usable, read its topic.

Apple issues it through the Apple Push Certificates Portal; its subject's UID is the push
topic (``com.apple.mgmt.External.<uuid>``) that every enrollment profile names, so a renewal
must keep the same UID or every enrolled device stops receiving pushes.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MDM_TOPIC_PREFIX = "com.apple.mgmt."
EXPIRY_WARNING_DAYS = 30


class PushCertificateError(ValueError):
    """The uploaded push certificate or key cannot be used; the message says why."""


@dataclass(frozen=True)
class PushCertificate:
    """A validated MDM push certificate with its private key."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey

    @property
    def topic(self) -> str:
        return topic_of(self.certificate)

    @property
    def not_after(self) -> dt.datetime:
        return self.certificate.not_valid_after_utc

    def days_left(self, now: dt.datetime | None = None) -> int:
        now = now or dt.datetime.now(dt.timezone.utc)
        return (self.not_after - now).days

    def expires_soon(self, now: dt.datetime | None = None) -> bool:
        return self.days_left(now) < EXPIRY_WARNING_DAYS


def topic_of(certificate: x509.Certificate) -> str:
    """The push topic: the subject's UID, which must start with ``com.apple.mgmt.``."""
    uids = certificate.subject.get_attributes_for_oid(NameOID.USER_ID)
    if not uids:
        raise PushCertificateError(
            "not an MDM push certificate: its subject has no UID (the push topic); "
            "get one from the Apple Push Certificates Portal")
    topic = str(uids[0].value)
    if not topic.startswith(MDM_TOPIC_PREFIX):
        raise PushCertificateError(
            f"not an MDM push certificate: its topic {topic!r} does not start with {MDM_TOPIC_PREFIX!r} "
            "(an app's push certificate cannot wake devices for MDM)")
    return topic


def _check_usage(certificate: x509.Certificate) -> None:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    if ExtendedKeyUsageOID.CLIENT_AUTH not in usage:
        raise PushCertificateError("not an MDM push certificate: it is not allowed for TLS client authentication")


def _pem_certificates(data: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        return []


def _pem_key(data: bytes, password: bytes | None):
    if b"PRIVATE KEY-----" not in data:
        return None
    try:
        return serialization.load_pem_private_key(data, password=password)
    except TypeError:
        if password is None:
            raise PushCertificateError("the private key is encrypted: give its password") from None
        raise PushCertificateError("the private key is not encrypted: leave the password empty") from None
    except ValueError:
        raise PushCertificateError("cannot read the private key: wrong password or not a PEM private key") from None
    except Exception as exc:  # unsupported key algorithms and other parser failures
        raise PushCertificateError(f"cannot read the private key ({exc.__class__.__name__})") from None


def _load_pkcs12(data: bytes, password: bytes | None):
    try:
        key, certificate, _extra = pkcs12.load_key_and_certificates(data, password)
    except ValueError:
        raise PushCertificateError("cannot open the PKCS#12 file: wrong password, or not a PKCS#12 file") from None
    except Exception as exc:  # unsupported PBE algorithms and other parser failures
        raise PushCertificateError(f"cannot open the PKCS#12 file ({exc.__class__.__name__})") from None
    if certificate is None:
        raise PushCertificateError("the PKCS#12 file holds no certificate")
    return certificate, key


def load_push_certificate(cert_data: bytes, key_data: bytes | None = None, password: str | None = None,
                          *, now: dt.datetime | None = None) -> PushCertificate:
    """Load and validate a push certificate and its key.

    ``cert_data`` is a PEM certificate (optionally followed by its key) or a PKCS#12 file;
    ``key_data`` a separate PEM key; ``password`` decrypts the PKCS#12 file or the key.
    Raises PushCertificateError when the certificate is not an MDM push certificate, is not
    yet valid or expired, or the key does not belong to it.
    """
    secret = password.encode() if password else None
    key = None
    certificates = _pem_certificates(cert_data)
    if certificates:
        certificate = certificates[0]
        key = _pem_key(cert_data, secret)
    elif b"-----BEGIN" in cert_data:
        raise PushCertificateError("cannot read the certificate: the PEM file holds no certificate")
    else:
        certificate, key = _load_pkcs12(cert_data, secret)
    if key_data:
        key = _pem_key(key_data, secret)
        if key is None:
            raise PushCertificateError("the key file holds no PEM private key")
    if key is None:
        raise PushCertificateError("the private key is missing: upload it with the certificate, or as a PKCS#12 file")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PushCertificateError("the private key must be an RSA key (Apple issues push certificates for RSA keys)")
    try:
        belongs = key.public_key() == certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise PushCertificateError("cannot read the certificate's public key (Apple issues RSA ones)") from None
    if not belongs:
        raise PushCertificateError("the private key does not belong to the certificate (use the key of the CSR you sent)")
    topic_of(certificate)
    _check_usage(certificate)
    now = now or dt.datetime.now(dt.timezone.utc)
    if certificate.not_valid_after_utc <= now:
        raise PushCertificateError(
            f"the certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d}; renew it in the "
            "Apple Push Certificates Portal (keep the same topic)")
    if certificate.not_valid_before_utc > now:
        raise PushCertificateError(f"the certificate is not valid before {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    return PushCertificate(certificate, key)
