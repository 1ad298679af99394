"""Issuing and consuming enrollment access tokens; only their SHA-256 hashes are stored."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select, update

from mdm_core.account_driven import hash_access_token, new_access_token

from .. import audit
from ..extensions import db
from ..models import EndUser, EnrollmentAccessToken
from ..models.base import utcnow

# From web sign-in to the phone's second POST takes seconds; the token is useless for issuance after this.
ISSUANCE_LIFETIME = timedelta(minutes=15)


def issue_access_token(user: EndUser, product: str | None) -> tuple[str, EnrollmentAccessToken]:
    """A fresh token for ``user`` and the phone ``product`` it is for, audited and committed.

    Tokens that expired unused are deleted on the way: they can never be used again, and this
    keeps the table at the size of the sign-ins of the last few minutes without a cron job.
    """
    db.session.execute(delete(EnrollmentAccessToken)
                       .where(EnrollmentAccessToken.used_at.is_(None), EnrollmentAccessToken.expires_at < utcnow())
                       .execution_options(synchronize_session=False))
    token = new_access_token()
    row = EnrollmentAccessToken(token_hash=hash_access_token(token), user_id=user.id,
                                managed_apple_id=user.managed_apple_id, product=product,
                                expires_at=utcnow() + ISSUANCE_LIFETIME)
    db.session.add(row)
    db.session.flush()
    audit.record("enrollment.access_token_issued", target_type="end_user", target_id=user.id,
                 detail={"method": "account_driven", "token_id": row.id, "product": product})
    db.session.commit()
    return token, row


def consume_access_token(token: str) -> EnrollmentAccessToken | None:
    """Use a token once to fetch a profile: its row, or None if unknown, used or expired.

    A conditional UPDATE makes the use atomic, so two racing requests cannot both win.
    """
    token_hash = hash_access_token(token)
    now = utcnow()
    result = db.session.execute(
        update(EnrollmentAccessToken)
        .where(EnrollmentAccessToken.token_hash == token_hash,
               EnrollmentAccessToken.used_at.is_(None),
               EnrollmentAccessToken.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return db.session.scalar(select(EnrollmentAccessToken).where(EnrollmentAccessToken.token_hash == token_hash))
