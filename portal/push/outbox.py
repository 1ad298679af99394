"""Recording pushes: one pending outbox row per device, written in the caller's transaction."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..models import Device, PushOutbox
from ..models.base import utcnow
from ..models.device import DeviceStatus

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
CHUNK = 500  # rows per statement: 2,500 parameters, inside every driver's limit


def can_push(device: Device) -> bool:
    """A device can be woken once it sent a token that APNs has not declared dead."""
    return device.status == DeviceStatus.ENROLLED and bool(device.push_token) and bool(device.push_magic) \
        and device.push_token_dead_at is None


def request_push(device: Device) -> bool:
    """Record that ``device`` must be pushed; coalesces with a push already pending.

    Returns False (and records nothing) when the device cannot be pushed. The caller commits.
    """
    return request_pushes([device]) == 1


def request_pushes(devices: Iterable[Device]) -> int:
    """``request_push`` for many devices in one upsert per ``CHUNK`` (in id order, so that two batches
    wait for each other rather than deadlock); returns how many devices can be pushed. The caller commits."""
    ids = sorted({device.id for device in devices if can_push(device)})
    table = PushOutbox.__table__
    now = utcnow()
    dialect = db.session.get_bind().dialect.name
    for start in range(0, len(ids), CHUNK):
        insert = _INSERTS[dialect](table).values([
            {"device_id": device_id, "generation": 1, "attempts": 0, "next_attempt_at": now, "created_at": now}
            for device_id in ids[start:start + CHUNK]])
        db.session.execute(insert.on_conflict_do_update(
            index_elements=[table.c.device_id], set_={"generation": table.c.generation + 1}))
    return len(ids)
