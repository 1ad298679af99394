"""Declarations' part in ``portal.desired_state``: enrollments (which turn DDM on for an iOS 15+ user
enrollment), someone's groups, an enrollment that ended, and the worker's periodic pass."""
from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Select
from sqlalchemy.orm import Session

from .desired import forget_device, reconcile, values_changed
from ..profiles.triggers import ROUND_BATCHES
from .sync import sync, sync_all


def devices_changed(session: Session, device_ids: Select | Collection[int], now: datetime | None = None) -> None:
    """Reconcile these devices' sets and queue their commands (one batch; the worker syncs any rest).
    The caller commits."""
    reconcile(session, device_ids=device_ids, now=now)
    sync(session, device_ids=device_ids, now=now)


def people_changed(session: Session, device_ids: Select) -> None:
    """The people's values these devices' declarations are filled in with changed (the worker syncs them)."""
    values_changed(session, device_ids)


def enrollment_ended(session: Session, device_id: int) -> None:
    forget_device(session, device_id)


def reconcile_and_deliver(session: Session, now: datetime | None = None) -> int:
    """The worker's job: reconcile every set, then sync every stale device. Returns how many were handled."""
    reconcile(session, now=now)
    session.commit()
    return sync_all(session, now=now)


def deliver_due(session: Session, now: datetime | None = None) -> int:
    """The worker's frequent job: the sync commands of devices whose sets changed, a bounded number of
    batches a round (a large edit reaches every phone in seconds, not at the next pass)."""
    return sync_all(session, now=now, max_batches=ROUND_BATCHES)
