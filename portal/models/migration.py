"""What the migration to User Enrollment did to each legacy device enrollment.

Only the admin's and the employee's actions are stored here; the state (unenrolled, failed,
re-enrolled, stalled) is derived at read time from the device, its removal command and the
user's other enrollments (``portal.migration.state``), so no check-in path has to update it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


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
