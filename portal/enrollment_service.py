"""The steps both enrollment flows share (Safari's ``/enroll`` and Account-Driven enrollment).

Recording the privacy acknowledgement, minting the signed profile with its audit record and
auditing a refusal each end in a commit here, so the views only parse the request and answer,
and the person reads the same words whichever way they enroll.
"""
from __future__ import annotations

from collections.abc import Mapping

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from mdm_core.enrollment_profiles import EnrollmentProfileError

from . import audit
from .enrollment_grants import mint_profile
from .extensions import db
from .i18n import current_language
from .models import EndUser, EnrollmentAccessToken, PrivacyAcknowledgement
from .settings_store import EnrollmentSettings

DISCLOSURE_CHANGED = _l("The privacy text changed while you were reading it. Please read it again.")
NOT_TICKED = _l("Tick the box to confirm you have read what your organisation can and cannot see.")


class PrivacyNotAcknowledged(ValueError):
    """The posted privacy form does not acknowledge the current disclosure; the message is for the person.

    ``status`` is what the pages answer: 409 when the text changed while they read it, 400 otherwise.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def has_acknowledged(user: EndUser, settings: EnrollmentSettings) -> bool:
    """Has ``user`` acknowledged the disclosure as it reads now? A changed text asks everyone again."""
    return db.session.scalar(select(PrivacyAcknowledgement.id).where(
        PrivacyAcknowledgement.user_id == user.id,
        PrivacyAcknowledgement.disclosure_version == settings.privacy_disclosure_version).limit(1)) is not None


def acknowledge_privacy(user: EndUser, method: str, settings: EnrollmentSettings, form: Mapping[str, str],
                        remote_addr: str | None) -> None:
    """Record that ``user`` acknowledged the disclosure the privacy ``form`` was posted for, with its text.

    Raises PrivacyNotAcknowledged (nothing recorded) when the form names an older version or the box is not ticked.
    """
    if form.get("version") != settings.privacy_disclosure_version:
        raise PrivacyNotAcknowledged(DISCLOSURE_CHANGED, 409)
    if form.get("acknowledge") != "yes":
        raise PrivacyNotAcknowledged(NOT_TICKED, 400)
    db.session.add(PrivacyAcknowledgement(user_id=user.id, disclosure_version=settings.privacy_disclosure_version,
                                          disclosure_text=settings.disclosure_for(current_language()), remote_addr=remote_addr))
    audit.record("enrollment.privacy_acknowledged", target_type="end_user", target_id=user.id,
                 detail={"disclosure_version": settings.privacy_disclosure_version, "method": method})
    db.session.commit()


def mint_enrollment_profile(user: EndUser, method: str, *, access_token: EnrollmentAccessToken | None = None,
                            device: Mapping[str, str | None] | None = None) -> bytes:
    """The CMS-signed enrollment profile for ``user``; its grant and audit record are committed with it.

    Without ``access_token`` the signed-in employee downloads it. With one (Account-Driven), the phone
    fetched it: the token is bound to the new grant, the phone is the audit's actor and ``device`` (what it
    said about itself: product, version) goes in the record. Raises EnrollmentProfileError, keeping
    nothing, when the account cannot be written in a profile.
    """
    managed_apple_id = access_token.managed_apple_id if access_token is not None else user.managed_apple_id
    try:
        signed, grant = mint_profile(method, managed_apple_id, user_id=user.id,
                                     created_by=f"user:{user.managed_apple_id}")
    except EnrollmentProfileError:
        db.session.rollback()
        raise
    if access_token is not None:
        access_token.grant_id = grant.id
    audit.record("enrollment_profile.minted", actor_type="user" if access_token is None else "device",
                 actor=user.managed_apple_id, target_type="enrollment_grant", target_id=grant.id,
                 detail={"method": method, "managed_apple_id": user.managed_apple_id, **(device or {})})
    db.session.commit()
    return signed


def record_refusal(user: EndUser | None, method: str, code: str) -> None:
    """Audit that enrollment by ``method`` was refused (``code`` as in enrollment_policy), ``user`` if known."""
    audit.record("enrollment.refused", target_type="end_user" if user else None, target_id=user.id if user else None,
                 detail={"method": method, "reason": code})
    db.session.commit()
