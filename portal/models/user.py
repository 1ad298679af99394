"""Employees as the organisation's identity provider describes them."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, trigram_indexes, utcnow


class EndUser(db.Model):
    __tablename__ = "end_users"
    __table_args__ = (UniqueConstraint("issuer", "subject"), *trigram_indexes("end_users", ("name", "email")))

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    managed_apple_id: Mapped[str] = mapped_column(String(320), index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(255))
    groups: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # In every session cookie; bumping it (portal.auth.end_employee_sessions) ends every copy of them.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The language picked at their last sign-in (portal.i18n): mail to them goes out in it.
    language: Mapped[str | None] = mapped_column(String(8))
