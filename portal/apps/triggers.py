"""Managed apps' part in ``portal.desired_state``: scope changes outside the app API (an enrollment,
someone's groups, an enrollment that ended) and the worker's periodic pass, which also runs the
Apps and Books job (licenses) before delivering what is due."""
from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Select
from sqlalchemy.orm import Session

from . import sync
from .delivery import deliver, deliver_all
from .desired import forget_device, reconcile, values_changed


def devices_changed(session: Session, device_ids: Select | Collection[int], now: datetime | None = None) -> None:
    """Reconcile these devices and queue what needs no new license (an in-house app, or a person who holds
    the license already: their new phone gets the app at once); one batch. Licenses are the worker's
    (a device's request pays nothing that grows with the fleet). The caller commits."""
    reconcile(session, device_ids=device_ids, now=now)
    deliver(session, device_ids=device_ids, now=now)


def people_changed(session: Session, device_ids: Select) -> None:
    """The people's values these devices' copies are filled in with changed: what used a changed one is sent
    again (the worker's frequent delivery queues it)."""
    values_changed(session, device_ids)


def enrollment_ended(session: Session, device_id: int) -> None:
    forget_device(session, device_id)


def reconcile_and_deliver(session: Session, now: datetime | None = None) -> int:
    """The worker's job: reconcile every app, run the Apps and Books job, deliver what is due."""
    reconcile(session, now=now)
    session.commit()
    sync.run(session, now=now)
    return deliver_all(session, now=now)


def deliver_due(session: Session, now: datetime | None = None) -> int:
    """The worker's frequent job: one batch of what is already due (licensed installs, removals, retries)."""
    return deliver(session, now=now)


def follow_up(session: Session, now: datetime | None = None) -> int:
    """The worker's short job between passes: the Apps and Books calls and events, then what is due
    (installs whose license just came, installs under way to check), so a rollout does not wait a minute
    a step. Cheap when there is nothing to do."""
    sync.run(session, now=now)
    return deliver_all(session, now=now)
