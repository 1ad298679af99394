"""Telling people by e-mail: the notice, the reminders, and the un-enrollment after the grace period.

Each notice is one ``MigrationNotice`` row per device and kind (unique), inserted before the mail is
queued and in the same transaction: a repeated click, a second admin or a second worker inserts
nothing and so mails nothing. A person with several legacy devices gets one message naming them all.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import aliased

from .. import audit, remote_commands
from ..database.upsert import insert_once
from ..extensions import db
from ..i18n import organization_language
from ..mail.outbox import Letter, language_of, public_link, queue_many
from ..mail.smtp_url import check_address
from ..models import Device, EndUser, LegacyMigration, MailOutbox, MigrationNotice
from ..models.base import utcnow
from ..models.device import DeviceStatus
from ..models.legacy_import import IMPORTED
from ..settings_store import EnrollmentSettings, load_enrollment_settings
from . import campaign
from .actions import (SYSTEM_ACTOR, MigrationRefused, _migration, _pending_removals, _reason, _rows, _unique,
                      send_unenrollment)
from .state import MigrationRow, not_re_enrolled

log = logging.getLogger(__name__)
NOTICE = "notice"
NOTIFIABLE_STATES = ("legacy", "notified")
CLAIM_CHUNK = 1000


@dataclass
class NoticeResult:
    devices: int = 0  # devices whose owner was sent this notice now
    emails: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)


def _address(row: MigrationRow) -> str | None:
    user = row.device.user
    for candidate in ((user.email if user else None), row.device.managed_apple_id):
        try:
            return check_address(candidate or "").lower()
        except ValueError:
            continue
    return None


def _major(version: str | None) -> int | None:
    head = (version or "").split(".")[0]
    return int(head) if head.isdigit() else None


def _values(rows: list[MigrationRow], settings: EnrollmentSettings, grace_days: int | None) -> dict[str, Any]:
    """What the notice says to one person about their devices: the steps that fit their iOS versions."""
    majors = [_major(r.device.os_version) for r in rows]
    user = rows[0].device.user
    return {"name": (user.name if user and user.name else None) or _address(rows[0]),
            "organization": settings.organization_name,
            "enroll_url": public_link("/enroll"), "portal_url": public_link("/enroll"),
            "devices": [{"model": r.device.model_name or r.device.model, "os_version": r.device.os_version}
                        for r in rows],
            "profile_driven": settings.profile_driven_enabled and any(m is None or m < 18 for m in majors),
            "account_driven": settings.account_driven_enabled and any(m is None or m >= 15 for m in majors),
            "unenroll_after_days": grace_days}


def _claim_notices(device_ids: list[int], kind: str, actor: str, now: datetime) -> set[int]:
    """Insert the notice rows that do not exist yet; returns the devices this call may mail."""
    if not device_ids:
        return set()
    table = MigrationNotice.__table__
    claimed: set[int] = set()
    for start in range(0, len(device_ids), CLAIM_CHUNK):  # SQLite takes at most 32,766 values in one statement
        rows = [{"device_id": i, "kind": kind, "created_at": now, "created_by": actor}
                for i in device_ids[start:start + CLAIM_CHUNK]]
        claimed.update(db.session.execute(insert_once(table, rows, [table.c.device_id, table.c.kind])
                                          .returning(table.c.device_id)).scalars())
    return claimed


def mail_notices(rows: Iterable[MigrationRow], kind: str, *, actor: str, now: datetime | None = None) -> NoticeResult:
    """Queue ``kind`` ("notice" or "reminder-N") to the owners of ``rows``, once per device. The caller commits."""
    now = now or utcnow()
    result = NoticeResult()
    by_address: dict[str, list[MigrationRow]] = defaultdict(list)
    for row in rows:
        address = _address(row)
        if row.device.user is not None and row.device.user.offboarded_at is not None:
            result.skipped.append({"device_id": row.device.id, "reason": "the owner was offboarded"})
        elif address is None:
            result.skipped.append({"device_id": row.device.id, "reason": "the owner has no e-mail address"})
        else:
            by_address[address].append(row)
    claimed = _claim_notices([r.device.id for group in by_address.values() for r in group], kind, actor, now)
    if not claimed:
        return result
    mail_kind = "migration_notice" if kind == NOTICE else "migration_reminder"
    system = {"actor_type": "system", "actor": actor} if actor == SYSTEM_ACTOR else {}
    settings, grace_days = load_enrollment_settings(), campaign.load().grace_days if kind == NOTICE else None
    default_language, letters, groups = organization_language(), [], []
    action = "migration.notice_mailed" if kind == NOTICE else "migration.reminder_mailed"
    for address, group in by_address.items():
        group = [r for r in group if r.device.id in claimed]
        if not group:
            continue
        user = group[0].device.user
        letters.append(Letter(address, language_of(user, default_language), _values(group, settings, grace_days),
                              user.name if user else None))
        groups.append((address, group))
    links = []
    for outbox_id, (address, group) in zip(queue_many(mail_kind, letters), groups):
        links += [{"b_device": r.device.id, "b_outbox": outbox_id} for r in group]
        for row in group:
            migration = _migration(row, now)
            if migration.notified_at is None:
                migration.notified_at, migration.notified_by = now, actor
            audit.record(action, target_type="device", target_id=row.device.id,
                         detail={"kind": kind, "outbox_id": outbox_id, "to": address}, **system)
        result.devices += len(group)
        result.emails += 1
    if links:
        table = MigrationNotice.__table__
        db.session.connection().execute(table.update().where(table.c.device_id == bindparam("b_device"),
                                                             table.c.kind == kind).values(outbox_id=bindparam("b_outbox")),
                                        links)
    return result


def notify(device_ids: Iterable[int], *, actor: str, now: datetime | None = None) -> NoticeResult:
    """Send the notice to the owners of these legacy devices (those not told by e-mail yet). Commits."""
    ids = _unique(device_ids)
    rows = _rows(ids)
    notifiable, skipped = [], []
    for device_id in ids:
        row = rows.get(device_id)
        if row is None:
            skipped.append({"device_id": device_id, "reason": "not a legacy device"})
        elif row.state not in NOTIFIABLE_STATES or row.device.status not in (DeviceStatus.ENROLLED, IMPORTED):
            skipped.append({"device_id": device_id, "reason": f"nothing to tell (state {row.state})"})
        else:
            notifiable.append(row)
    result = mail_notices(notifiable, NOTICE, actor=actor, now=now)
    result.skipped = skipped + result.skipped
    db.session.commit()
    return result


def _delivered_notices(kind: str, before: datetime):
    """(device id, when its ``kind`` mail was delivered) for deliveries before ``before``."""
    return (select(MigrationNotice.device_id, MailOutbox.sent_at)
            .join(MailOutbox, MailOutbox.id == MigrationNotice.outbox_id)
            .where(MigrationNotice.kind == kind, MailOutbox.sent_at.is_not(None), MailOutbox.sent_at <= before))


def send_due_reminders(now: datetime | None = None) -> int:
    """Remind the owners who have no User Enrollment yet, N days after their notice was delivered. Commits."""
    now = now or utcnow()
    sent = 0
    for days in campaign.load().reminder_days:
        kind = f"reminder-{days}"
        later = aliased(MigrationNotice)
        due = _delivered_notices(NOTICE, now - timedelta(days=days)).outerjoin(
            later, and_(later.device_id == MigrationNotice.device_id, later.kind == kind)).where(later.id.is_(None))
        sent += mail_notices(not_re_enrolled(due.with_only_columns(MigrationNotice.device_id)), kind,
                             actor=SYSTEM_ACTOR, now=now).emails
        db.session.commit()
    return sent


def send_due_unenrollments(now: datetime | None = None) -> int:
    """After the grace period, send the un-enrollment to notified devices still enrolled. Commits.

    The due devices go in device order, at most ``BULK_MAX_DEVICES`` (what one un-enrollment takes) a transaction, each
    batch after the last device of the one before: a campaign whose grace period ends for more devices than that at
    once is un-enrolled in one run, and a device left out (its un-enrollment already pending) does not hold back the
    ones after it."""
    grace = campaign.load().grace_days
    if grace is None:
        return 0
    now = now or utcnow()
    due = (_delivered_notices(NOTICE, now - timedelta(days=grace))
           .with_only_columns(MigrationNotice.device_id)
           .join(LegacyMigration, LegacyMigration.device_id == MigrationNotice.device_id)
           .join(Device, Device.id == MigrationNotice.device_id)
           .outerjoin(EndUser, EndUser.id == Device.user_id)
           # an offboarded person's device is offboarding's to retire: no second RemoveProfile beside that one
           .where(LegacyMigration.unenroll_sent_at.is_(None), Device.status == DeviceStatus.ENROLLED,
                  EndUser.offboarded_at.is_(None))
           .order_by(MigrationNotice.device_id))
    sent, after = 0, 0
    while True:
        size = remote_commands.BULK_MAX_DEVICES
        batch = due.where(MigrationNotice.device_id > after).limit(size)
        # two workers: each device is taken by one
        ids = list(db.session.scalars(batch.with_for_update(of=LegacyMigration, skip_locked=True)))
        sent += _send_due(ids, now)
        if len(ids) < size:
            return sent
        after = ids[-1]


def _send_due(ids: list[int], now: datetime) -> int:
    """Send the un-enrollment to the due devices ``ids`` still only notified (locked); how many. Commits."""
    pending = _pending_removals(ids)  # one queued from the device page, say: left out, not refusing the batch
    rows = [r for r in _rows(ids).values() if r.state == "notified" and _reason(r.device.id, r, pending) is None]
    if not rows:
        db.session.commit()
        return 0
    try:
        _, sent = send_unenrollment([r.device.id for r in rows], actor=SYSTEM_ACTOR, now=now)
    except MigrationRefused as exc:
        db.session.rollback()
        log.warning("grace period over, but the un-enrollment was refused: %s", exc)
        return 0
    return len(sent)


def run_campaign(now: datetime | None = None) -> None:
    """The worker's migration job: reminders, then un-enrollments whose grace period is over."""
    send_due_reminders(now)
    send_due_unenrollments(now)
