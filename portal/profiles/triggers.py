"""When the desired state changes outside the profile API: an enrollment, a sign-in that changed
someone's groups, an enrollment that ended, and the worker's periodic pass (smart groups follow
inventory and time, so the worker reconciles everything now and then)."""
from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import Device, EndUser
from ..scope.groups import sync_memberships
from .delivery import deliver, deliver_all
from .desired import forget_device, reconcile


def devices_changed(session: Session, device_ids: Select | Collection[int], now: datetime | None = None) -> None:
    """What decides these devices' scope changed: reconcile them, and queue their commands (one batch;
    the worker queues any rest). The caller commits."""
    reconcile(session, device_ids=device_ids, now=now)
    deliver(session, device_ids=device_ids, now=now)


def signed_in(user: EndUser, groups: list[str]) -> None:
    """A sign-in renews the person's groups; if they changed, their devices are reconciled. The caller commits."""
    if sync_memberships(db.session, user, groups):
        devices_changed(db.session, select(Device.id).where(Device.managed_apple_id == user.managed_apple_id))


def enrollment_ended(session: Session, device_id: int) -> None:
    forget_device(session, device_id)


def reconcile_and_deliver(session: Session, now: datetime | None = None) -> int:
    """The worker's job: reconcile every profile on every device, then deliver whatever is due
    (new rows and retries), committing batch by batch. Returns how many rows were handled."""
    reconcile(session, now=now)
    session.commit()
    return deliver_all(session, now=now)
