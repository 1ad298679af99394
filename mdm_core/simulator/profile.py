"""Reading an enrollment profile the way an iPhone does: find the MDM payload and its identity."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from mdm_core import cms, plist

_NAME_OIDS = {
    "CN": NameOID.COMMON_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "E": NameOID.EMAIL_ADDRESS,
    "emailAddress": NameOID.EMAIL_ADDRESS,
}


class ProfileError(ValueError):
    """The bytes are not an enrollment profile the simulated device can install."""


@dataclass(frozen=True)
class ScepIdentity:
    """Where and how to obtain the device identity over SCEP."""

    url: str
    challenge: str | None
    subject: x509.Name
    key_size: int


@dataclass(frozen=True)
class Pkcs12Identity:
    """An identity delivered inside the profile."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey


@dataclass(frozen=True)
class EnrollmentSettings:
    """What the device keeps from the enrollment profile's MDM payload."""

    profile: dict[str, Any]
    server_url: str
    checkin_url: str
    topic: str
    sign_message: bool
    checkout_when_removed: bool
    identity: ScepIdentity | Pkcs12Identity


def read_enrollment_profile(data: bytes) -> EnrollmentSettings:
    """Unwrap a (possibly CMS-signed) profile and extract the MDM settings and identity payload."""
    if cms.is_cms(data):
        try:
            data = cms.verify(data).content
        except cms.CMSError as exc:
            raise ProfileError(f"profile signature does not verify: {exc}") from None
    try:
        profile = plist.loads(data)
    except plist.PlistError as exc:
        raise ProfileError(str(exc)) from None
    if profile.get("PayloadType") != "Configuration":
        raise ProfileError("not a configuration profile")
    content = profile.get("PayloadContent")
    if not isinstance(content, list) or not all(isinstance(p, dict) for p in content):
        raise ProfileError("PayloadContent must be an array of payloads")
    mdm = _single(content, "com.apple.mdm")
    by_uuid = {p.get("PayloadUUID"): p for p in content}
    identity_payload = by_uuid.get(mdm.get("IdentityCertificateUUID"))
    if identity_payload is None:
        raise ProfileError("IdentityCertificateUUID names no payload of this profile")
    server_url = _string(mdm, "ServerURL")
    return EnrollmentSettings(
        profile=profile,
        server_url=server_url,
        checkin_url=mdm.get("CheckInURL") or server_url,
        topic=_string(mdm, "Topic"),
        sign_message=mdm.get("SignMessage") is True,
        checkout_when_removed=mdm.get("CheckOutWhenRemoved") is True,
        identity=_identity(identity_payload),
    )


def _single(content: list[dict[str, Any]], payload_type: str) -> dict[str, Any]:
    found = [p for p in content if p.get("PayloadType") == payload_type]
    if len(found) != 1:
        raise ProfileError(f"expected exactly one {payload_type} payload, found {len(found)}")
    return found[0]


def _string(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        raise ProfileError(f"{payload.get('PayloadType')} payload lacks {key}")
    return value


def _identity(payload: dict[str, Any]) -> ScepIdentity | Pkcs12Identity:
    kind = payload.get("PayloadType")
    if kind == "com.apple.security.scep":
        content = payload.get("PayloadContent")
        if not isinstance(content, dict):
            raise ProfileError("SCEP payload lacks its PayloadContent dictionary")
        if not isinstance(content.get("URL"), str) or not content["URL"]:
            raise ProfileError("SCEP payload lacks its URL")
        return ScepIdentity(
            url=content["URL"],
            challenge=content.get("Challenge"),
            subject=scep_subject(content.get("Subject", [])),
            key_size=content.get("Keysize", 1024),
        )
    if kind == "com.apple.security.pkcs12":
        password = payload.get("Password")
        try:
            key, certificate, _ = pkcs12.load_key_and_certificates(
                payload.get("PayloadContent", b""), password.encode() if password else None
            )
        except (ValueError, TypeError) as exc:
            raise ProfileError(f"PKCS#12 identity cannot be opened: {exc}") from None
        if not isinstance(key, rsa.RSAPrivateKey) or certificate is None:
            raise ProfileError("PKCS#12 identity must hold an RSA key and its certificate")
        return Pkcs12Identity(certificate=certificate, private_key=key)
    raise ProfileError(f"identity payload type {kind!r} is not supported by the simulator")


def scep_subject(subject: Any) -> x509.Name:
    """Turn the SCEP payload's ``[[["O", "Org"]], [["CN", "Name"]]]`` into an X.509 name."""
    try:
        attributes = [
            x509.NameAttribute(_NAME_OIDS.get(name) or x509.ObjectIdentifier(name), value)
            for rdn in subject
            for name, value in rdn
        ]
    except (TypeError, ValueError) as exc:
        raise ProfileError(f"SCEP Subject is malformed: {exc}") from None
    return x509.Name(attributes)
