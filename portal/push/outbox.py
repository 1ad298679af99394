"""Recording pushes: one pending outbox row per device, written in the caller's transaction."""
from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..models import Device, PushOutbox
from ..models.base import utcnow
from ..models.device import DeviceStatus

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def can_push(device: Device) -> bool:
    """A device can be woken once it sent a token that APNs has not declared dead."""
    return device.status == DeviceStatus.ENROLLED and bool(device.push_token) and bool(device.push_magic) \
        and device.push_token_dead_at is None


def request_push(device: Device) -> bool:
    """Record that ``device`` must be pushed; coalesces with a push already pending.

    Returns False (and records nothing) when the device cannot be pushed. The caller commits.
    """
    if not can_push(device):
        return False
    table = PushOutbox.__table__
    now = utcnow()
    insert = _INSERTS[db.session.get_bind().dialect.name](table).values(
        device_id=device.id, generation=1, attempts=0, next_attempt_at=now, created_at=now)
    db.session.execute(insert.on_conflict_do_update(
        index_elements=[table.c.device_id], set_={"generation": table.c.generation + 1}))
    return True
