"""Enrollments being retired because their owner was offboarded.

A row exists from the moment the enrollment profile's ``RemoveProfile`` is queued; the enrollment is
``retiring`` while the device has not checked out (``devices.status`` is still ``enrolled``), and retired
once it has. Reactivating the person deletes the rows whose command was still unsent (and cancels it).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


class EnrollmentRetirement(db.Model):
    __tablename__ = "enrollment_retirements"

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("end_users.id", ondelete="CASCADE"), index=True)
    command_id: Mapped[int | None] = mapped_column(ForeignKey("commands.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_by: Mapped[str | None] = mapped_column(String(320))
