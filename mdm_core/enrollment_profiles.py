"""Enrollment profiles: the unsigned configuration profile that makes an iPhone enroll.

Three variants share one shape (an identity payload plus a ``com.apple.mdm`` payload) and
differ only in the MDM payload's enrollment keys:

- legacy device enrollment: ``AccessRights`` 8191 (every right);
- profile-driven User Enrollment (iOS 13.1-17): ``ManagedAppleID``, no ``AccessRights``;
- account-driven User Enrollment (iOS 15+): ``EnrollmentMode`` BYOD and
  ``AssignedManagedAppleID``; the device cancels enrollment if ``AccessRights`` is present.

No variant sets ``PayloadRemovalDisallowed``: User Enrollment forbids it, and the user may
always leave. Signing is the caller's job (``mdm_core.cms``); URLs derive from PUBLIC_URL.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from mdm_core import plist

ALL_ACCESS_RIGHTS = 8191
SCEP_KEY_USAGE_SIGN_AND_ENCRYPT = 1 | 4
SCEP_KEY_SIZE = 2048

SCEP_PATH = "/scep"
CHECKIN_PATH = "/mdm/checkin"
SERVER_PATH = "/mdm/connect"

IdentityKind = Literal["scep", "pkcs12"]


class EnrollmentProfileError(ValueError):
    """The profile cannot be built from this specification; the message says which part."""


@dataclass(frozen=True)
class EnrollmentProfileSpec:
    """Everything an enrollment profile depends on, apart from the enrolling user."""

    organization: str
    public_url: str
    topic: str
    scep_challenge: str | None = None
    scep_subject: tuple[tuple[str, str], ...] = ()
    identity_kind: IdentityKind = "scep"
    pkcs12: bytes | None = None
    pkcs12_password: str | None = None
    identifier_prefix: str = "com.example.mdm"
    display_name: str | None = None
    description: str = "Lets your organisation manage its accounts, apps and data on this device."

    def __post_init__(self) -> None:
        if not self.public_url.startswith(("https://", "http://")):
            raise EnrollmentProfileError("public_url must be an http(s) URL")
        if not self.topic.startswith("com.apple.mgmt."):
            raise EnrollmentProfileError("topic must start with 'com.apple.mgmt.' (the push certificate's UID)")
        if self.identity_kind == "pkcs12" and not self.pkcs12:
            raise EnrollmentProfileError("a pkcs12 identity needs the PKCS#12 bytes")
        if self.identity_kind not in ("scep", "pkcs12"):
            raise EnrollmentProfileError(f"unknown identity kind {self.identity_kind!r}")

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def server_url(self) -> str:
        return self.base_url + SERVER_PATH

    @property
    def checkin_url(self) -> str:
        return self.base_url + CHECKIN_PATH

    @property
    def scep_url(self) -> str:
        return self.base_url + SCEP_PATH


def build_device_enrollment_profile(spec: EnrollmentProfileSpec) -> dict[str, Any]:
    """A legacy device-enrollment profile: the MDM payload asks for every access right."""
    return _profile(spec, {"AccessRights": ALL_ACCESS_RIGHTS})


def build_profile_driven_user_enrollment_profile(spec: EnrollmentProfileSpec, managed_apple_id: str) -> dict[str, Any]:
    """A profile-driven User Enrollment profile, the one Safari downloads (iOS 13.1-17)."""
    return _profile(spec, {"ManagedAppleID": check_managed_apple_id(managed_apple_id)})


def build_account_driven_user_enrollment_profile(
    spec: EnrollmentProfileSpec, assigned_managed_apple_id: str
) -> dict[str, Any]:
    """The profile answered to an authenticated account-driven enrollment request."""
    apple_id = check_managed_apple_id(assigned_managed_apple_id)
    return _profile(spec, {"EnrollmentMode": "BYOD", "AssignedManagedAppleID": apple_id})


def to_bytes(profile: dict[str, Any]) -> bytes:
    """The XML plist bytes of a profile, ready to sign or serve.

    A value a property list cannot hold (a control character in a string) raises EnrollmentProfileError.
    """
    try:
        return plist.dumps(profile)
    except (TypeError, ValueError, OverflowError) as exc:
        raise EnrollmentProfileError(f"the profile cannot be written as a property list: {exc}") from None


def check_managed_apple_id(value: str) -> str:
    """``value`` if it can be a Managed Apple ID (name@domain, printable, at most 320 characters),
    else EnrollmentProfileError."""
    local, at, domain = value.rpartition("@") if isinstance(value, str) else ("", "", "")
    if (not (local and at and domain) or any(c.isspace() for c in value) or not value.isprintable()
            or len(value) > 320):
        raise EnrollmentProfileError(f"{str(value)[:80]!r} is not a Managed Apple ID")
    return value


def _profile(spec: EnrollmentProfileSpec, enrollment_keys: dict[str, Any]) -> dict[str, Any]:
    identity = _scep_payload(spec) if spec.identity_kind == "scep" else _pkcs12_payload(spec)
    mdm = _payload(spec, "com.apple.mdm", "mdm", "Mobile Device Management")
    mdm.update(
        {
            "IdentityCertificateUUID": identity["PayloadUUID"],
            "Topic": spec.topic,
            "ServerURL": spec.server_url,
            "CheckInURL": spec.checkin_url,
            "SignMessage": True,
            "CheckOutWhenRemoved": True,
            **enrollment_keys,
        }
    )
    return {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadUUID": _new_uuid(),
        "PayloadIdentifier": f"{spec.identifier_prefix}.enrollment",
        "PayloadDisplayName": spec.display_name or f"{spec.organization} Enrollment",
        "PayloadOrganization": spec.organization,
        "PayloadDescription": spec.description,
        "PayloadContent": [identity, mdm],
    }


def _payload(spec: EnrollmentProfileSpec, payload_type: str, suffix: str, display_name: str) -> dict[str, Any]:
    return {
        "PayloadType": payload_type,
        "PayloadVersion": 1,
        "PayloadUUID": _new_uuid(),
        "PayloadIdentifier": f"{spec.identifier_prefix}.enrollment.{suffix}",
        "PayloadDisplayName": display_name,
        "PayloadOrganization": spec.organization,
    }


def _scep_payload(spec: EnrollmentProfileSpec) -> dict[str, Any]:
    subject = spec.scep_subject or (("O", spec.organization), ("CN", "MDM Identity"))
    content: dict[str, Any] = {
        "URL": spec.scep_url,
        "Name": spec.organization,
        "Subject": [[[name, value]] for name, value in subject],
        "Key Type": "RSA",
        "Keysize": SCEP_KEY_SIZE,
        "Key Usage": SCEP_KEY_USAGE_SIGN_AND_ENCRYPT,
    }
    if spec.scep_challenge is not None:
        content["Challenge"] = spec.scep_challenge
    payload = _payload(spec, "com.apple.security.scep", "scep", "MDM Identity (SCEP)")
    payload["PayloadContent"] = content
    return payload


def _pkcs12_payload(spec: EnrollmentProfileSpec) -> dict[str, Any]:
    payload = _payload(spec, "com.apple.security.pkcs12", "identity", "MDM Identity")
    payload["PayloadContent"] = spec.pkcs12
    payload["PayloadCertificateFileName"] = "mdm-identity.p12"
    if spec.pkcs12_password is not None:
        payload["Password"] = spec.pkcs12_password
    return payload


def _new_uuid() -> str:
    return str(uuid.uuid4()).upper()
