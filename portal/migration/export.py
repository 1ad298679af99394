"""The campaign as CSV: every legacy device with its state and the time of each step."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import case, func, select

from ..extensions import db
from ..models import Command, Device, LegacyImport, LegacyMigration, MailOutbox, MigrationNotice
from ..models.legacy_import import IMPORTED
from .state import Tracked

COLUMNS = ("device_id", "source", "udid", "serial_number", "owner", "model", "os_version", "state", "device_status",
           "imported_at", "notified_at", "notice_queued_at", "notice_delivered_at", "reminders_sent",
           "last_reminder_at", "notice_seen_at", "unenroll_sent_at", "unenrolled_at", "re_enrolled_at")
CHUNK = 1000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    """Text a spreadsheet shows as text: a device-provided value never runs as a formula."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _notices():
    delivered = func.max(case((MigrationNotice.kind == "notice", MailOutbox.sent_at)))
    reminder = MigrationNotice.kind.like("reminder-%")
    return (select(MigrationNotice.device_id.label("device_id"),
                   func.max(case((MigrationNotice.kind == "notice", MigrationNotice.created_at))).label("queued"),
                   delivered.label("delivered"),
                   func.count(case((reminder, MigrationNotice.id))).label("reminders"),
                   func.max(case((reminder, MigrationNotice.created_at))).label("last_reminder"))
            .outerjoin(MailOutbox, MailOutbox.id == MigrationNotice.outbox_id)
            .group_by(MigrationNotice.device_id).subquery("notices"))


def export_rows(now: datetime | None = None) -> Iterator[list[str]]:
    tracked = Tracked(now)
    notices = _notices()
    statement = (tracked.select(Device, LegacyMigration, tracked.state, LegacyImport.serial_number,
                                LegacyImport.imported_at, notices.c.queued, notices.c.delivered, notices.c.reminders,
                                notices.c.last_reminder, tracked.by_user.c.enrolled_at, tracked.by_address,
                                Command.status, Command.completed_at)
                 .outerjoin(LegacyImport, LegacyImport.device_id == Device.id)
                 .outerjoin(notices, notices.c.device_id == Device.id))
    after = 0
    while True:
        batch = db.session.execute(statement.where(Device.id > after).order_by(Device.id).limit(CHUNK)).all()
        for (device, migration, state, serial, imported_at, queued, delivered, reminders, last_reminder,
             by_user, by_address, command_status, command_completed_at) in batch:
            left_at = device.unenrolled_at or (command_completed_at if command_status == "acknowledged" else None)
            re_enrolled_at = max((t for t in (by_user, by_address) if t is not None), default=None)
            yield [_cell(v) for v in (
                device.id, "imported" if device.status == IMPORTED else "enrolled", device.udid, serial,
                device.managed_apple_id, device.model, device.os_version, state, device.status, imported_at,
                migration.notified_at if migration else None, queued, delivered, reminders or 0, last_reminder,
                migration.notice_seen_at if migration else None, migration.unenroll_sent_at if migration else None,
                left_at, re_enrolled_at if state == "re_enrolled" else None)]
        if len(batch) < CHUNK:
            return
        after = batch[-1][0].id


def export_csv(now: datetime | None = None) -> Iterator[str]:
    """The CSV, a chunk of lines at a time (header first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for count, row in enumerate(export_rows(now), 1):
        writer.writerow(row)
        if count % CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
