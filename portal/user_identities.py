"""User identities for Wi-Fi, VPN and mail: one-time SCEP challenges per device and profile, and the
profile payloads that carry them.

Profile delivery calls :func:`fill_identity_scep_payloads` on each device's copy of a profile: every SCEP
payload whose ``URL`` is ``mdm_core.user_identity.SCEP_URL_MARKER`` gets this device's URL of the user
identity SCEP endpoint and a fresh challenge. The URL names the device, so a challenge works only where
it was sent: another device's challenge is refused like a wrong one. See docs/decisions.md.
"""
from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from mdm_core.user_identity import UserNames, fill_scep_payloads, user_names

from .extensions import db
from .models import Device
from .models.api_token import hash_token
from .models.base import utcnow
from .models.device import DeviceStatus
from .models.user_identity import UserIdentityChallenge

#: The user identity SCEP endpoint; each device's URL is this plus ``/<device id>``.
IDENTITY_SCEP_PATH = "/scep/identities"
#: Long enough for a profile queued for a phone that is off for a week; a retried install gets a new one.
CHALLENGE_LIFETIME = timedelta(days=7)
MAX_PROFILE_IDENTIFIER = 255


def identity_scep_url(device_id: int) -> str:
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}{IDENTITY_SCEP_PATH}/{device_id}"


def _names(device: Device) -> UserNames:
    return user_names(device.managed_apple_id, device.user.email if device.user is not None else None)


def issue_identity_challenge(device: Device, profile_identifier: str) -> tuple[str, str]:
    """A new one-time challenge for ``device``'s copy of the profile ``profile_identifier``, and the SCEP URL
    that takes it: ``(url, challenge)``. Only the challenge's hash is stored; the caller commits.

    Raises ``mdm_core.user_identity.UserIdentityError`` when the device's user cannot be named in a
    certificate, and ValueError for an empty or overlong profile identifier.
    """
    if not isinstance(profile_identifier, str) or not 0 < len(profile_identifier) <= MAX_PROFILE_IDENTIFIER:
        raise ValueError(f"a profile identifier is 1 to {MAX_PROFILE_IDENTIFIER} characters")
    _names(device)  # refuse now rather than on the phone
    challenge = secrets.token_urlsafe(24)
    db.session.add(UserIdentityChallenge(device_id=device.id, profile_identifier=profile_identifier,
                                         challenge_hash=hash_token(challenge),
                                         expires_at=utcnow() + CHALLENGE_LIFETIME))
    return identity_scep_url(device.id), challenge


def fill_identity_scep_payloads(profile: Mapping[str, Any], device: Device) -> dict[str, Any]:
    """A copy of ``profile`` for ``device``: each SCEP payload marked "issued by this server" gets its URL and
    a challenge of its own (one row each; the caller commits). A profile without one is copied unchanged."""
    return fill_scep_payloads(profile, lambda: issue_identity_challenge(device, profile.get("PayloadIdentifier")))


def consume_identity_challenge(device_id: int, challenge: str) -> UserIdentityChallenge | None:
    """Use ``challenge`` once for ``device_id``: its row, or None if unknown, another device's, used, expired,
    or the device is un-enrolled. One conditional UPDATE, so two racing requests cannot both win."""
    now = utcnow()
    digest = hash_token(challenge)
    active = select(Device.id).where(Device.id == device_id, Device.status != DeviceStatus.UNENROLLED)
    result = db.session.execute(
        update(UserIdentityChallenge)
        .where(UserIdentityChallenge.challenge_hash == digest, UserIdentityChallenge.device_id.in_(active),
               UserIdentityChallenge.used_at.is_(None), UserIdentityChallenge.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return db.session.scalar(select(UserIdentityChallenge).where(UserIdentityChallenge.challenge_hash == digest))


def names_for(row: UserIdentityChallenge) -> UserNames:
    """Who the certificate a challenge pays for names: the device's user, as the server knows them now."""
    return _names(db.session.get(Device, row.device_id))
