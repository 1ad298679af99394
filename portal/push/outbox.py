"""Recording pushes: one pending outbox row per device, written in the caller's transaction as it commits.

The rows are written last, just before the commit, in device order: a transaction that queued a command for a
device and then updates that device's other rows (a re-scope after offboarding's retirement, a sign-in's
re-scope after its DDM sync) would otherwise hold the device's push row while it waits for a row the worker's
delivery claimed, and the delivery, which writes the push row after claiming, would wait for it: a deadlock.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

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
    """``request_push`` for many devices, written when the caller commits (above); returns how many devices can be
    pushed. The caller commits."""
    ids = {device.id for device in devices if can_push(device)}
    if ids:
        db.session.info.setdefault(_PENDING, set()).update(ids)
    return len(ids)


_PENDING = "pending_pushes"


@event.listens_for(Session, "before_commit")
def _write_pushes(session: Session) -> None:
    """At the transaction's commit (not a savepoint's release), after its last flush: one upsert per ``CHUNK`` of
    its pushes, in device order (two transactions wait for each other rather than deadlock); a push already
    pending is coalesced (its generation moves on, its attempts start again: a new request has tries of its own)."""
    if not session.info.get(_PENDING) or session.in_nested_transaction():
        return
    session.flush()  # the ORM's pending writes first: the push rows are the last this transaction locks
    ids = sorted(session.info.pop(_PENDING))
    table = PushOutbox.__table__
    now = utcnow()
    for start in range(0, len(ids), CHUNK):
        insert = _INSERTS[session.get_bind().dialect.name](table).values([
            {"device_id": device_id, "generation": 1, "attempts": 0, "next_attempt_at": now, "created_at": now}
            for device_id in ids[start:start + CHUNK]])
        session.execute(insert.on_conflict_do_update(index_elements=[table.c.device_id],
                                                     set_={"generation": table.c.generation + 1, "attempts": 0}))


@event.listens_for(Session, "after_transaction_end")
def _forget_pushes(session: Session, transaction) -> None:
    """The transaction ended (committed, rolled back or closed): what it did not write is not kept for the next."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
