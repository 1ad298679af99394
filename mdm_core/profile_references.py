"""Keys that name a certificate or identity payload by its ``PayloadUUID``, and the check that each does.

Taken from Apple's profile schema (``mdm/profiles/*.yaml``): every key named like ``*CertificateUUID``,
``*CertificateAnchorUUID``, ``*CertificateUUIDs``, ``IdentityCertificateUUID`` or ``EncryptCertPayloadUUID``
(``tests/mdm_core/test_profile_references.py`` keeps this table equal to the schema's keys and words). Where Apple writes that the payload is "within the same profile" (or "in the same
profile"), a UUID naming no payload of the profile is an error; elsewhere Apple does not say, so it is a
warning. Either way a UUID naming a payload of the profile that holds no certificate is an error, and a
key that takes an identity (the text says "identity" or "credential") naming a bare certificate payload
is a warning. Per-app VPN payloads carry the VPN payload's keys (``profile_check._KEYS_SHARED_WITH``).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from mdm_core.capabilities import Problem

#: Payloads that install a certificate without its private key.
CERTIFICATE_TYPES = frozenset({"com.apple.security.root", "com.apple.security.pkcs1", "com.apple.security.pem"})
#: Payloads that install an identity (a certificate with its private key), or have one issued.
IDENTITY_TYPES = frozenset({"com.apple.security.pkcs12", "com.apple.security.scep", "com.apple.security.acme",
                            "com.apple.security.wapi-identity"})
#: What a certificate reference may name.
CERTIFICATE_PAYLOAD_TYPES = CERTIFICATE_TYPES | IDENTITY_TYPES
EACH = "[]"  # a path step: every element of an array


@dataclass(frozen=True)
class Reference:
    """One key holding certificate payload UUIDs: its path in the payload (``EACH`` for an array's elements),
    whether it takes an identity, and whether Apple says the payload is in the same profile."""

    path: tuple[str, ...]
    identity: bool
    same_profile: bool


def _refs(*entries: tuple[str, bool, bool]) -> tuple[Reference, ...]:
    return tuple(Reference(tuple(path.split(".")), identity, same) for path, identity, same in entries)


_VPN = _refs(("VPN.PayloadCertificateUUID", True, True), ("IPSec.PayloadCertificateUUID", True, True),
             ("IKEv2.PayloadCertificateUUID", True, True), ("DNS.PayloadCertificateUUID", True, False),
             ("TransparentProxy.PayloadCertificateUUID", True, False))
_MAIL = (("SMIMESigningCertificateUUID", True, False), ("SMIMEEncryptionCertificateUUID", True, False))
#: payload type -> the keys of it that name certificate payloads (path, takes an identity, "same profile").
REFERENCES: Mapping[str, tuple[Reference, ...]] = MappingProxyType({
    "com.apple.MCX.FileVault2": _refs(("PayloadCertificateUUID", False, True)),
    "com.apple.dnsSettings.managed": _refs(("PayloadCertificateUUID", True, False)),
    "com.apple.eas.account": _refs(("PayloadCertificateUUID", True, True), *_MAIL),
    "com.apple.education": _refs(
        ("PayloadCertificateUUID", True, True), ("LeaderPayloadCertificateAnchorUUID.[]", False, True),
        ("MemberPayloadCertificateAnchorUUID.[]", False, True), ("ResourcePayloadCertificateUUID", True, True)),
    "com.apple.ews.account": _refs(("PayloadCertificateUUID", True, True), ("AuthenticationCertificateUUID", True, True)),
    "com.apple.extensiblesso": _refs(("ExtensionData.certificateUUID", False, False)),
    "com.apple.lom": _refs(("DeviceCertificateUUID", False, False), ("ControllerCertificateUUID", False, False),
                           ("DeviceCACertificateUUIDs.[]", False, False),
                           ("ControllerCACertificateUUIDs.[]", False, False)),
    "com.apple.mail.managed": _refs(*_MAIL),
    "com.apple.mdm": _refs(("IdentityCertificateUUID", True, False), ("ServerURLPinningCertificateUUIDs.[]", False, False),
                           ("CheckInURLPinningCertificateUUIDs.[]", False, False)),
    "com.apple.relay.managed": _refs(("Relays.[].PayloadCertificateUUID", True, False)),
    "com.apple.security.FDERecoveryKeyEscrow": _refs(("EncryptCertPayloadUUID", False, True)),
    "com.apple.security.FDERecoveryRedirect": _refs(("EncryptCertPayloadUUID", False, True)),
    "com.apple.security.certificatepreference": _refs(("PayloadCertificateUUID", True, True)),
    "com.apple.security.identitypreference": _refs(("PayloadCertificateUUID", True, True)),
    "com.apple.sso": _refs(("Kerberos.PayloadCertificateUUID", True, False)),
    "com.apple.vpn.managed": _VPN,
    "com.apple.vpn.managed.applayer": _VPN,
    "com.apple.webcontent-filter": _refs(("PayloadCertificateUUID", False, True)),
    "com.apple.wifi.managed": _refs(("PayloadCertificateUUID", True, True),
                                    ("EAPClientConfiguration.PayloadCertificateAnchorUUID.[]", False, True)),
})


def check_references(payloads: list[Mapping[str, Any]], problems: list[Problem]) -> None:
    """Append a problem for each certificate reference that names no certificate payload of the profile."""
    types = {uuid: payload.get("PayloadType") for payload in payloads
             if isinstance(uuid := payload.get("PayloadUUID"), str)}
    for payload in payloads:
        payload_type = payload.get("PayloadType")
        for reference in REFERENCES.get(payload_type, ()) if isinstance(payload_type, str) else ():
            for where, value in _values(payload, reference.path, ""):
                problem = _problem(reference, where, value, types.get(value))
                if problem is not None:
                    problems.append(Problem(problem[0], where, problem[1], payload_type))


def _problem(reference: Reference, where: str, value: str, target: Any) -> tuple[str, str] | None:
    if target is None:
        if reference.same_profile:
            return "error", f"{where} {value[:80]} names no payload of this profile (Apple: the certificate payload " \
                            "must be in the same profile)"
        return "warning", f"{where} {value[:80]} names no certificate payload of this profile"
    if target not in CERTIFICATE_PAYLOAD_TYPES:
        return "error", f"{where} {value[:80]} names a {str(target)[:80]} payload, not a certificate or identity payload"
    if reference.identity and target in CERTIFICATE_TYPES:
        return "warning", f"{where} {value[:80]} names a {target} payload, a certificate without its private key; " \
                          f"{where} takes an identity (PKCS #12, SCEP or ACME)"
    return None


def _values(value: Any, path: tuple[str, ...], where: str) -> list[tuple[str, str]]:
    """The strings at ``path`` in ``value`` with their key paths (``EAPClientConfiguration.X[0]``); a value of
    another type is the schema check's to report."""
    if not path:
        return [(where, value)] if isinstance(value, str) else []
    step, rest = path[0], path[1:]
    if step == EACH:
        items = value if isinstance(value, list) else []
        return [found for index, item in enumerate(items) for found in _values(item, rest, f"{where}[{index}]")]
    if not isinstance(value, Mapping) or step not in value:
        return []
    return _values(value[step], rest, f"{where}.{step}" if where else step)
