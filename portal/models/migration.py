"""What the migration to User Enrollment did to each legacy device enrollment.

Only the admin's and the employee's actions are stored here; the state (unenrolled, failed,
re-enrolled, stalled) is derived at read time from the device, its removal command and the
user's other enrollments (``portal.migration.state``), so no check-in path has to update it; the first TokenUpdate
of a legacy device that enrolls again clears it (``restart_migration``).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow
from .mail import MigrationNotice


class LegacyMigration(db.Model):
    __tablename__ = "legacy_migrations"

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    # When the migration first reached the device: a User Enrollment of its user after this counts.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notified_by: Mapped[str | None] = mapped_column(String(320))
    # The employee saw the migration notice on /enroll or /me while signed in.
    notice_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unenroll_command_id: Mapped[int | None] = mapped_column(ForeignKey("commands.id", ondelete="SET NULL"))
    unenroll_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unenroll_sent_by: Mapped[str | None] = mapped_column(String(320))


def restart_migration(session: Session, device_id: int) -> None:
    """The device enrolls with the legacy profile again (a device enrollment reuses its UDID's row): a legacy
    enrollment again, whose migration starts over. What the campaign stored of the earlier enrollment goes, so it is
    ``legacy`` (not ``unenrolled`` by the removal that enrollment acknowledged), its owner can be told again, and
    the worker sends its un-enrollment after the grace period again; the audit log keeps the earlier steps. The
    migration row goes first, the row ``_lock_migrations`` locks first, so an un-enrollment, a marking as notified
    or the employee's notice of the device either commits before this or waits for it. The caller (the first
    TokenUpdate) commits."""
    session.execute(delete(LegacyMigration).where(LegacyMigration.device_id == device_id)
                    .execution_options(synchronize_session=False))
    session.execute(delete(MigrationNotice).where(MigrationNotice.device_id == device_id)
                    .execution_options(synchronize_session=False))
