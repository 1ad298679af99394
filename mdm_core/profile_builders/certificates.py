"""Certificate and identity payloads: trust anchors, PKCS#12 identities, and identities the phone
requests itself over SCEP or ACME (Apple's advice: the private key never leaves the device).

Wi-Fi, VPN and mail payloads name one of these by ``Ref(name)``. Certificates given as PEM
are stored as DER; every certificate is parsed here, so a wrong file is a clear error at
build time rather than a failed install on the phone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from mdm_core.profile_builders.base import BuildError, Keys, Payload, key

#: ``Key Usage`` bits: 1 signing, 4 encryption.
KEY_USAGE_SIGNING, KEY_USAGE_ENCRYPTION = 1, 4


def subject_array(subject: tuple[tuple[str, str], ...]) -> list[list[list[str]]]:
    """``(("O", "Example"), ("CN", "$EMAIL"))`` as the ``[[["O", "Example"]], [["CN", "$EMAIL"]]]``
    a SCEP or ACME ``Subject`` holds (one attribute per relative distinguished name)."""
    return [[[name, value]] for name, value in subject]


def certificate_der(data: bytes, what: str) -> bytes:
    """The DER of one X.509 certificate given as DER or PEM; BuildError for anything else."""
    if not isinstance(data, (bytes, bytearray)):
        raise BuildError(f"{what}: the certificate must be bytes (DER or PEM)")
    try:
        if bytes(data).lstrip().startswith(b"-----BEGIN"):
            certificate = x509.load_pem_x509_certificate(bytes(data))
        else:
            certificate = x509.load_der_x509_certificate(bytes(data))
    except ValueError:
        raise BuildError(f"{what}: the file is not an X.509 certificate (DER or PEM)") from None
    return certificate.public_bytes(Encoding.DER)


@dataclass(frozen=True, kw_only=True)
class RootCertificate(Payload):
    """A CA certificate the phone trusts (for a RADIUS, mail or VPN server with a private CA)."""

    PAYLOAD_TYPE = "com.apple.security.root"
    TITLE = "Root certificate"
    REQUIRED = ("PayloadContent",)

    PayloadContent: bytes = key("PayloadContent", convert=lambda data: certificate_der(data, "certificate"))
    PayloadCertificateFileName: str | None = None


@dataclass(frozen=True, kw_only=True)
class PKCS1Certificate(RootCertificate):
    """A certificate (intermediate CA or server certificate), PEM or DER, delivered as DER."""

    PAYLOAD_TYPE = "com.apple.security.pkcs1"
    TITLE = "Certificate"


@dataclass(frozen=True, kw_only=True)
class PKCS12Identity(Payload):
    """An identity (certificate and private key) in a password-protected PKCS#12 file."""

    PAYLOAD_TYPE = "com.apple.security.pkcs12"
    TITLE = "Identity (PKCS #12)"
    REQUIRED = ("PayloadContent",)

    PayloadContent: bytes
    Password: str | None = None
    PayloadCertificateFileName: str | None = None

    def check(self) -> None:
        super().check()
        if "$" in (self.Password or ""):
            return  # a per-user password is checked when it is filled in, on the phone
        try:
            key_, certificate, _ = pkcs12.load_key_and_certificates(
                bytes(self.PayloadContent), self.Password.encode() if self.Password else None)
        except (ValueError, TypeError):
            raise BuildError("PKCS#12 identity: the file cannot be opened with this password") from None
        if key_ is None or certificate is None:
            raise BuildError("PKCS#12 identity: the file must hold a private key and its certificate")


@dataclass(frozen=True, kw_only=True)
class SubjectAltName(Keys):
    rfc822Name: str | None = None
    dNSName: str | None = None
    uniformResourceIdentifier: str | None = None
    ntPrincipalName: str | None = None


@dataclass(frozen=True, kw_only=True)
class SCEPIdentity(Payload):
    """An identity the phone requests from a SCEP server; the challenge may be per device."""

    PAYLOAD_TYPE = "com.apple.security.scep"
    TITLE = "Identity (SCEP)"
    CONTENT_KEY = "PayloadContent"
    REQUIRED = ("URL",)

    URL: str
    Name: str | None = None
    Subject: tuple[tuple[str, str], ...] | None = key("Subject", convert=subject_array)
    Challenge: str | None = None
    Keysize: Literal[1024, 2048, 4096] = 2048
    KeyType: str = key("Key Type", default="RSA")
    KeyUsage: int = key("Key Usage", default=KEY_USAGE_SIGNING | KEY_USAGE_ENCRYPTION)
    SubjectAltName: SubjectAltName | None = None
    CAFingerprint: bytes | None = None
    Retries: int | None = None
    RetryDelay: int | None = None


@dataclass(frozen=True, kw_only=True)
class ACMEIdentity(Payload):
    """An identity the phone requests from an ACME server (iOS 16+), optionally hardware-bound and attested."""

    PAYLOAD_TYPE = "com.apple.security.acme"
    TITLE = "Identity (ACME)"
    REQUIRED = ("DirectoryURL", "ClientIdentifier", "Subject")

    DirectoryURL: str
    ClientIdentifier: str
    Subject: tuple[tuple[str, str], ...] = key("Subject", convert=subject_array)
    KeyType: Literal["RSA", "ECSECPrimeRandom"] = "ECSECPrimeRandom"
    KeySize: int = 384
    HardwareBound: bool = True
    Attest: bool | None = None
    SubjectAltName: SubjectAltName | None = None
    ExtendedKeyUsage: tuple[str, ...] | None = None
    UsageFlags: int | None = None

    def check(self) -> None:
        super().check()
        if self.HardwareBound and (self.KeyType, self.KeySize) not in (("ECSECPrimeRandom", 256),
                                                                       ("ECSECPrimeRandom", 384)):
            raise BuildError("ACME identity: a hardware-bound key must be ECSECPrimeRandom with KeySize 256 or 384")
