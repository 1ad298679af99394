"""User identities for Wi-Fi (EAP-TLS), VPN and mail: certificates naming the user, from a CA of their own.

The device CA vouches for enrollments (every ``Mdm-Signature`` chains to it). A RADIUS or VPN server told to
trust user identities must not thereby accept device identities, nor the MDM server a Wi-Fi certificate, so
user identities come from a second CA with its own key and name ("<organisation> User Identities").

A profile asks for such an identity with a SCEP payload whose ``URL`` is :data:`SCEP_URL_MARKER` (a URN, not
a ``$VARIABLE``: the variables are the user's values, this is the server's own endpoint);
:func:`fill_scep_payloads` gives each device the server's URL and a one-time challenge in its place. The
server decides what is issued: whatever the CSR asks, the subject is the Managed Apple ID (as CN, with the
CA's organisation) and the ``rfc822Name`` subject alternative names are the Managed Apple ID and the
user's e-mail address when it differs.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from .ca import Identity, create_ca, issue_certificate

#: The ``URL`` of a SCEP payload that this server's user identity CA is to fill in per device.
SCEP_URL_MARKER = "urn:byod-mdm:user-identity-scep"
SCEP_PAYLOAD_TYPE = "com.apple.security.scep"
#: A year: the identity is renewed by sending the profile again (a fresh challenge), and a lost phone's
#: certificate stops opening the Wi-Fi within a year even if nobody revokes it.
IDENTITY_DAYS = 365
#: Apple's default SCEP key size is 1024 bits; filled payloads ask for at least this.
MIN_KEY_SIZE = 2048
MAX_COMMON_NAME = 64  # RFC 5280 ub-common-name


class UserIdentityError(ValueError):
    """The user cannot be named in a certificate (no Managed Apple ID, or one that is not a short address)."""


@dataclass(frozen=True)
class UserNames:
    """What a user identity certificate names: the subject's CN and the ``rfc822Name`` SANs."""

    common_name: str
    email_addresses: tuple[str, ...]


def create_user_identity_ca(organization: str) -> Identity:
    """The user identity CA: its own key, never the device CA's."""
    return create_ca(f"{organization} User Identities", organization)


def _is_address(text: str) -> bool:
    local, at, domain = text.partition("@")
    printable = text.isascii() and text.isprintable() and " " not in text
    return bool(local and at and domain) and "@" not in domain and printable


def user_names(managed_apple_id: str | None, email: str | None = None) -> UserNames:
    """The names for a user's certificate; :class:`UserIdentityError` when the Managed Apple ID cannot be both
    a CN (64 characters at most) and an ``rfc822Name`` (an ASCII address). An unusable e-mail is left out."""
    apple_id = (managed_apple_id or "").strip()
    if not _is_address(apple_id) or len(apple_id) > MAX_COMMON_NAME:
        raise UserIdentityError("a user identity needs a Managed Apple ID that is an ASCII address of at most "
                                f"{MAX_COMMON_NAME} characters")
    addresses = [apple_id]
    other = (email or "").strip()
    if _is_address(other) and other.lower() != apple_id.lower():
        addresses.append(other)
    return UserNames(apple_id, tuple(addresses))


def issue_user_identity(ca: Identity, public_key, names: UserNames, *, days: int = IDENTITY_DAYS) -> x509.Certificate:
    """A client and e-mail certificate for ``public_key`` naming the user, whatever the CSR asked for."""
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, names.common_name)]
    subject += ca.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[:1]
    return issue_certificate(ca, public_key, x509.Name(subject), days=days, email_addresses=names.email_addresses)


def is_marked(payload: Any) -> bool:
    """Whether ``payload`` is a SCEP payload this server's user identity CA is to fill in."""
    return (isinstance(payload, Mapping) and payload.get("PayloadType") == SCEP_PAYLOAD_TYPE
            and isinstance(payload.get("PayloadContent"), Mapping)
            and payload["PayloadContent"].get("URL") == SCEP_URL_MARKER)


def fill_scep_payloads(profile: Mapping[str, Any], issue: Callable[[], tuple[str, str]]) -> dict[str, Any]:
    """A copy of ``profile`` whose marked SCEP payloads carry ``URL`` and ``Challenge`` from ``issue()``
    (called once per marked payload) and a key of at least :data:`MIN_KEY_SIZE` bits. ``profile`` is not changed."""
    content = profile.get("PayloadContent")
    if not isinstance(content, list):
        return dict(profile)
    filled = []
    for payload in content:
        if is_marked(payload):
            url, challenge = issue()
            keys = dict(payload["PayloadContent"], URL=url, Challenge=challenge)
            size = keys.get("Keysize")
            if not isinstance(size, int) or isinstance(size, bool) or size < MIN_KEY_SIZE:
                keys["Keysize"] = MIN_KEY_SIZE
            payload = {**payload, "PayloadContent": keys}
        filled.append(payload)
    return {**profile, "PayloadContent": filled}
