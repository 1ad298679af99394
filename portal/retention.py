"""Purging what has become history, after a retention period (a worker job, daily): user-identity challenges
used or expired, and the rows of deleted profiles whose removal from every device is done.

A challenge is kept for ``RETENTION`` after its use or its expiry (it names the certificate it paid for,
for whoever investigates); a deleted profile until ``RETENTION`` after its deletion and while any device
still has a row other than ``removed`` (a removal still under way or failing keeps it). After that,
uploading the identifier again makes a new profile rather than reviving the old row.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.orm import Session

from .models import Profile, ProfileState
from .models.base import utcnow
from .models.profile import ProfileStatus
from .models.user_identity import UserIdentityChallenge

RETENTION = timedelta(days=30)


def purge_history(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Delete the challenges and profile tombstones past retention; returns how many of each. Commits."""
    cutoff = (now or utcnow()) - RETENTION
    challenges = session.execute(delete(UserIdentityChallenge).where(
        or_(UserIdentityChallenge.used_at < cutoff, UserIdentityChallenge.expires_at < cutoff)))
    unfinished = exists().where(ProfileState.profile_id == Profile.id, ProfileState.status != ProfileStatus.REMOVED)
    done = select(Profile.id).where(Profile.deleted_at < cutoff, ~unfinished)
    ids = list(session.scalars(done.with_for_update(skip_locked=True)))
    if ids:
        session.execute(delete(ProfileState).where(ProfileState.profile_id.in_(ids)))
        session.execute(delete(Profile).where(Profile.id.in_(ids)))
    session.commit()
    return {"challenges": challenges.rowcount or 0, "profiles": len(ids)}
