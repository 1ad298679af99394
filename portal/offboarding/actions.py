"""Offboarding and reactivating one person."""
from __future__ import annotations

from sqlalchemy.orm import Session

from .. import audit
from ..database.locks import Lock, hold
from ..desired_state import users_changed
from ..models import EndUser
from ..models.base import utcnow
from . import steps


def offboard(session: Session, user: EndUser, reason: str) -> bool:
    """Mark ``user`` offboarded and run every step; False when they already were (the steps run again anyway, so
    an enrollment made since is retired too). ``reason``: ``deactivated``, ``deleted`` or ``admin``. The caller
    commits."""
    hold(session, Lock.DESIRED_STATE)  # the steps send commands and release licences before the devices are re-scoped
    first = user.offboarded_at is None
    if first:
        user.offboarded_at = user.updated_at = utcnow()
    session.flush()
    for step in steps.STEPS:
        step(session, user.id)
    users_changed(session, [user.id])  # retiring devices leave every scope
    if first:
        audit.record("person.offboarded", target_type="end_user", target_id=user.id,
                     detail={"reason": reason, "managed_apple_id": user.managed_apple_id})
    return first


def reactivate(session: Session, user: EndUser) -> dict[str, int] | None:
    """Lift the offboarded mark and cancel unsent retirements; None when the person was not offboarded.
    Returns ``{"cancelled": n, "already_sent": n}``. The caller commits."""
    if user.offboarded_at is None:
        return None
    hold(session, Lock.DESIRED_STATE)
    user.offboarded_at = None
    user.updated_at = utcnow()
    cancelled, sent = steps.cancel_unsent_retirements(session, user.id)
    users_changed(session, [user.id])  # devices whose retirement was cancelled are back in scope
    outcome = {"cancelled": cancelled, "already_sent": sent}
    audit.record("person.reactivated", target_type="end_user", target_id=user.id, detail=outcome)
    return outcome
