"""Telling devices their declarations changed: the ``DeclarativeManagement`` command.

A reconciliation marks the devices whose set changed ``stale``; here each one's ``DeclarationsToken``
is computed again from its set (one statement per batch of devices), with the answers the endpoints
serve when it moved (``documents``), and, when it differs from the token last sent, one
``DeclarativeManagement`` command goes through ``remote_commands.send`` (the capability check, the
queue, the push outbox). At most one is pending per device: while one has not been fetched, a newer
change sends nothing more (the device reads the current manifest anyway).
"""
from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from mdm_core import queue
from mdm_core.ddm.documents import declarations_token, sync_command

from .. import audit
from ..database.batches import until_done
from ..models import Command, DdmEnrollment, Device
from ..models.base import utcnow
from ..models.device import DeviceStatus
from ..remote_commands import CommandRefused, send
from . import generated
from .documents import device_documents
from .sets import members_of

BATCH = 500
SYSTEM_ACTOR = "system:declarations"


def sync(session: Session, *, device_ids: Select | Collection[int] | None = None, limit: int = BATCH,
         now: datetime | None = None) -> int:
    """Bring up to ``limit`` stale devices' tokens up to date and queue their commands; returns how many
    devices were handled. The caller commits."""
    now = now or utcnow()
    statement = (select(DdmEnrollment, Device).join(Device, Device.id == DdmEnrollment.device_id)
                 .where(DdmEnrollment.stale.is_(True), Device.status == DeviceStatus.ENROLLED)
                 .order_by(DdmEnrollment.device_id).limit(limit)
                 .with_for_update(of=DdmEnrollment, skip_locked=True))
    if device_ids is not None:
        statement = statement.where(DdmEnrollment.device_id.in_(device_ids))
    rows = session.execute(statement).all()
    if not rows:
        return 0
    sets = members_of(session, [row.device_id for row, _ in rows])
    pending = set(session.scalars(select(Command.command_uuid).where(
        Command.command_uuid.in_([row.sync_command_uuid for row, _ in rows if row.sync_command_uuid]),
        Command.status == queue.QUEUED)))
    queued = refused = 0
    for row, device in rows:
        members = sets[row.device_id]
        token = declarations_token(generated.items(members))
        row.stale = False
        if token != row.declarations_token:
            row.declarations_token, row.token_changed_at = token, now
            row.tokens_document = None
        if row.tokens_document is None:  # the token moved, or its answers were never written
            row.tokens_document, row.manifest_document, row.activation_document = device_documents(
                members, token, row.token_changed_at or now)
        if token == row.sent_token:
            continue
        row.sent_token = token
        if row.sync_command_uuid in pending:
            continue
        try:
            command = send(device, sync_command(token, row.token_changed_at or now), created_by=SYSTEM_ACTOR,
                           audited=False)
        except CommandRefused:  # the device cannot take it (its enrollment changed): it keeps the command path
            refused += 1
            continue
        row.sync_command_uuid = command.command_uuid
        queued += 1
    if queued or refused:
        audit.record("declaration.synced", actor_type="system", actor=SYSTEM_ACTOR,
                     detail={"devices": len(rows), "queued": queued, "refused": refused})
    return len(rows)


def sync_all(session: Session, now: datetime | None = None, max_batches: int | None = None) -> int:
    """Sync every stale device (or ``max_batches`` batches of them), committing batch by batch (the worker's
    jobs); returns how many were handled."""
    return until_done(session, lambda: sync(session, now=now), BATCH, max_batches)
