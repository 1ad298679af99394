"""What people do in the migration: the admin notifies and un-enrolls, the employee sees the notice.

Every action is audited against the device, which gives each device its migration history.
"""
from __future__ import annotations

import plistlib
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from mdm_core import queue

from .. import audit, remote_commands
from ..database.upsert import insert_once
from ..extensions import db
from ..models import AuditEvent, BulkCommand, Command, Device, EndUser, LegacyMigration, MailOutbox, MigrationNotice
from ..models.base import utcnow
from ..models.command import ENROLLMENT_ENDED_ERROR_CHAIN
from ..models.device import DeviceStatus
from ..models.legacy_import import IMPORTED
from .state import MigrationRow, legacy_device_ids_of, re_enrollment_of, rows_for_devices

CHUNK = 500
SYSTEM_ACTOR = "migration-campaign"  # the worker: grace periods and reminders


class MigrationRefused(ValueError):
    """Some device ids may not be un-enrolled; ``refused`` lists each with its reason. Nothing was sent."""

    def __init__(self, refused: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(refused)} device(s) cannot be un-enrolled: "
                         + "; ".join(f"{r['device_id']}: {r['reason']}" for r in refused[:5]))
        self.refused = refused


def _unique(device_ids: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(device_ids))


def _rows(device_ids: list[int]) -> dict[int, MigrationRow]:
    rows: dict[int, MigrationRow] = {}
    for start in range(0, len(device_ids), CHUNK):
        rows.update({r.device.id: r for r in rows_for_devices(device_ids[start:start + CHUNK])})
    return rows


def _lock_migrations(device_ids: list[int], now) -> None:
    """Make the missing migration rows of the active legacy devices among ``device_ids``, then lock the rows, in
    device order: a second un-enrollment of a device waits here for the first to commit, then finds its command
    pending. Checked before any lock, both sent a RemoveProfile, or one failed inserting the same row; a notice
    (``mark_notified``, ``notice_for``) takes the same step, so it neither fails beside one nor undoes it."""
    table = LegacyMigration.__table__
    ordered = sorted(device_ids)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start:start + CHUNK]
        active = db.session.scalars(select(Device.id).where(Device.id.in_(chunk), Device.enrollment_type == "device",
                                                            Device.status == DeviceStatus.ENROLLED)).all()
        if active:
            db.session.execute(insert_once(table, [{"device_id": i, "created_at": now} for i in sorted(active)],
                                           [table.c.device_id]))
        db.session.execute(select(table.c.device_id).where(table.c.device_id.in_(chunk))
                           .order_by(table.c.device_id).with_for_update())  # SQLite has no row locks: left out


def _migration(row: MigrationRow, now) -> LegacyMigration:
    if row.migration is not None:
        return row.migration
    migration = LegacyMigration(device_id=row.device.id, created_at=now)
    db.session.add(migration)
    return migration


def _pending_removals(device_ids: list[int]) -> set[int]:
    """Those of ``device_ids`` with a RemoveProfile of the enrollment profile not answered yet, whoever queued it (this
    campaign, the device page, offboarding's retirement): a second one would only muddle the first's answer."""
    identifier = remote_commands.enrollment_profile_identifier()
    pending: set[int] = set()
    for start in range(0, len(device_ids), CHUNK):
        for device_id, payload in db.session.execute(select(Command.device_id, Command.payload).where(
                Command.device_id.in_(device_ids[start:start + CHUNK]), Command.request_type == "RemoveProfile",
                Command.status.in_(sorted(queue.OPEN_STATUSES)))):
            try:
                removes = plistlib.loads(payload)["Command"].get("Identifier")
            except (plistlib.InvalidFileException, ValueError, KeyError, TypeError, AttributeError):
                continue
            if removes == identifier:
                pending.add(device_id)
    return pending


def _reason(device_id: int, row: MigrationRow | None, pending: set[int]) -> str | None:
    if row is None:
        device = db.session.get(Device, device_id)
        if device is None:
            return "no such device"
        if device.enrollment_type == "user":
            return "a User Enrollment: the migration never un-enrolls it"
        return "never completed a legacy enrollment"
    if row.device.status == IMPORTED:
        return "imported from a list: it has no enrollment here to remove"
    if row.device.status != DeviceStatus.ENROLLED:
        return f"the legacy enrollment is not active (state {row.state})"
    if device_id in pending or (row.command is not None and row.command.status in queue.OPEN_STATUSES):
        return "an un-enrollment is already pending"
    return None


def send_unenrollment(device_ids: Iterable[int], *, actor: str, now=None) -> tuple[BulkCommand, list[Command]]:
    """Queue RemoveProfile of the enrollment profile for exactly these legacy devices, or none.

    Raises MigrationRefused listing every id that is not an active legacy enrollment (a User
    Enrollment is always refused; the caller rolls back). Commits: the commands, their pushes, the migration
    rows and one audit event per device land together.
    """
    ids = _unique(device_ids)
    if len(ids) > remote_commands.BULK_MAX_DEVICES:
        raise MigrationRefused([{"device_id": None, "reason": f"at most {remote_commands.BULK_MAX_DEVICES} devices at once"}])
    now = now or utcnow()
    _lock_migrations(ids, now)
    rows = _rows(ids)
    pending = _pending_removals(ids)
    refused = [{"device_id": i, "reason": reason} for i in ids if (reason := _reason(i, rows.get(i), pending))]
    if refused:
        raise MigrationRefused(refused)
    command = remote_commands.unenroll_command()
    bulk = BulkCommand(id=str(uuid.uuid4()), request_type=command["RequestType"], created_by=actor,
                       queued=len(ids), refused=[])
    db.session.add(bulk)
    sent = []
    system = {"actor_type": "system", "actor": actor} if actor == SYSTEM_ACTOR else {}  # else the request's
    for device_id in ids:
        row = rows[device_id]
        queued = remote_commands.send(row.device, command, created_by=actor, bulk_id=bulk.id, audited=False)
        db.session.flush()
        migration = _migration(row, now)
        migration.unenroll_command_id = queued.id
        migration.unenroll_sent_at, migration.unenroll_sent_by = now, actor
        audit.record("migration.unenroll_sent", target_type="device", target_id=device_id,
                     detail={"command_uuid": queued.command_uuid, "bulk_id": bulk.id}, **system)
        sent.append(queued)
    db.session.commit()
    return bulk, sent


def mark_notified(device_ids: Iterable[int], *, actor: str) -> int:
    """Record that the employees of these legacy devices were told; returns how many changed. Commits."""
    now = utcnow()
    ids = _unique(device_ids)
    _lock_migrations(ids, now)
    changed = 0
    for row in _rows(ids).values():
        if row.state != "legacy":
            continue
        migration = _migration(row, now)
        migration.notified_at, migration.notified_by = now, actor
        audit.record("migration.notified", target_type="device", target_id=row.device.id)
        changed += 1
    db.session.commit()
    return changed


def notice_for(user: EndUser) -> list[MigrationRow]:
    """The employee's legacy devices still to migrate; records (once) that they saw the notice. Commits."""
    now = utcnow()
    ids = legacy_device_ids_of(user)
    _lock_migrations(ids, now)
    rows = [r for r in rows_for_devices(ids) if r.state != "re_enrolled"]
    seen = False
    for row in rows:
        if row.device.status == DeviceStatus.ENROLLED and (row.migration is None
                                                           or row.migration.notice_seen_at is None):
            _migration(row, now).notice_seen_at = now
            audit.record("migration.notice_seen", target_type="device", target_id=row.device.id)
            seen = True
    if ids:
        db.session.commit()  # the rows' locks end here, not with the page
    if seen:
        rows = rows_for_devices([r.device.id for r in rows])
    return rows


def history(row: MigrationRow) -> list[tuple[Any, str]]:
    """The device's migration so far, oldest first: (time, what happened)."""
    labels = {"device.enrolled": "Enrolled with the legacy profile",
              "migration.notice_seen": "Employee saw the migration notice in the portal",
              "migration.notified": "Marked as notified",
              "migration.unenroll_sent": "Un-enrollment sent (RemoveProfile of the enrollment profile)",
              "device.unenroll_requested": "Un-enrollment sent from the device page",
              "device.unenrolled": "Device checked out (left management)",
              "migration.device_imported": "Imported from a list of legacy devices",
              "migration.notice_mailed": "Notice e-mail queued", "migration.reminder_mailed": "Reminder e-mail queued"}
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.target_type == "device",
                                                         AuditEvent.target_id == str(row.device.id),
                                                         AuditEvent.action.in_(list(labels)))
                                .order_by(AuditEvent.id)).all()
    entries = [(e.at, labels[e.action] + (f" by {e.actor}" if e.actor_type in ("admin", "api") else "")) for e in events]
    for kind, sent_at in db.session.execute(select(MigrationNotice.kind, MailOutbox.sent_at)
                                            .join(MailOutbox, MailOutbox.id == MigrationNotice.outbox_id)
                                            .where(MigrationNotice.device_id == row.device.id, MailOutbox.sent_at.is_not(None))):
        entries.append((sent_at, f"{'Notice' if kind == 'notice' else 'Reminder'} e-mail delivered to the mail server"))
    command = row.command
    if command is not None and command.completed_at is not None:
        if command.status == "acknowledged":
            entries.append((command.completed_at, "Device acknowledged the removal of its enrollment profile"))
        elif command.error_chain == ENROLLMENT_ENDED_ERROR_CHAIN:
            entries.append((command.completed_at, "Removal closed unanswered: the enrollment had ended"))
        elif command.status == "error":
            reason = "; ".join(str(e.get("LocalizedDescription", "")) for e in (command.error_chain or [])
                               if isinstance(e, dict))
            entries.append((command.completed_at, f"Device refused the removal: {reason or 'no reason given'}"))
    successor = re_enrollment_of(row)
    if successor is not None:
        entries.append((successor.enrolled_at, f"Re-enrolled with User Enrollment (device {successor.id})"))
    return sorted(entries, key=lambda entry: entry[0])
