"""Minting signed enrollment profiles, each with its own one-time, expiring SCEP challenge."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from mdm_core import cms
from mdm_core import enrollment_profiles as builders

from .extensions import db
from .models import EnrollmentGrant
from .settings_store import organization_name
from .models.base import utcnow
from .pki import device_ca, profile_signer, push_topic

CHALLENGE_LIFETIME = timedelta(hours=24)
PROFILE_CONTENT_TYPE = "application/x-apple-aspen-config"
# method -> (enrollment type it yields, builder)
_BUILDERS = {
    "profile_driven": ("user", builders.build_profile_driven_user_enrollment_profile),
    "account_driven": ("user", builders.build_account_driven_user_enrollment_profile),
    "legacy": ("device", None),
}


def _hash(challenge: str) -> str:
    return hashlib.sha256(challenge.encode()).hexdigest()


def mint_profile(method: str, managed_apple_id: str | None, *, user_id: int | None = None,
                 created_by: str | None = None) -> tuple[bytes, EnrollmentGrant]:
    """Create a grant with a fresh challenge and return the CMS-signed profile that carries it.

    ``method`` is ``profile_driven`` or ``account_driven`` (User Enrollment) or ``legacy``
    (device enrollment with AccessRights). Raises EnrollmentProfileError for a bad Apple ID or a
    profile that cannot be written as a property list.
    The caller commits (the grant and its audit event land together).
    """
    enrollment_type, builder = _BUILDERS[method]
    challenge = secrets.token_urlsafe(24)
    public_url = current_app.config["PUBLIC_URL"]
    organization = organization_name()
    topic, _placeholder = push_topic()
    spec = builders.EnrollmentProfileSpec(
        organization=organization,
        public_url=public_url,
        topic=topic,
        scep_challenge=challenge,
        scep_subject=(("O", organization), ("CN", f"MDM Identity {secrets.token_hex(4)}")),
        identifier_prefix=current_app.config.get("PROFILE_IDENTIFIER_PREFIX", "org.byod-mdm"),
    )
    if builder is None:
        profile = builders.build_device_enrollment_profile(spec)
    else:
        profile = builder(spec, managed_apple_id)
    unsigned = builders.to_bytes(profile)  # before the grant: a profile that cannot be written leaves no row
    grant = EnrollmentGrant(
        enrollment_type=enrollment_type,
        enrollment_method=method,
        user_id=user_id,
        managed_apple_id=managed_apple_id,
        challenge_hash=_hash(challenge),
        challenge_expires_at=utcnow() + CHALLENGE_LIFETIME,
        created_by=created_by,
    )
    db.session.add(grant)
    db.session.flush()
    signer = profile_signer()
    signed = cms.sign(unsigned, signer, extra_certs=[device_ca().certificate])
    return signed, grant


def consume_challenge(challenge: str) -> EnrollmentGrant | None:
    """Use a SCEP challenge once: the grant it belongs to, or None if unknown, used or expired.

    A conditional UPDATE makes the use atomic, so two racing requests cannot both win.
    """
    now = utcnow()
    result = db.session.execute(
        update(EnrollmentGrant)
        .where(EnrollmentGrant.challenge_hash == _hash(challenge),
               EnrollmentGrant.challenge_used_at.is_(None),
               EnrollmentGrant.challenge_expires_at > now)
        .values(challenge_used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return db.session.scalar(select(EnrollmentGrant).where(EnrollmentGrant.challenge_hash == _hash(challenge)))
