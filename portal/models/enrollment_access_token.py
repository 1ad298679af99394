"""Account-Driven enrollment access tokens: issued after web sign-in, stored only as a hash.

A token is single-use for fetching the enrollment profile (before ``expires_at``), then bound to
the grant that profile carries; the phone keeps sending it on every MDM request, where it must
match its own enrollment (the hash is copied onto the device row at Authenticate).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


class EnrollmentAccessToken(db.Model):
    __tablename__ = "enrollment_access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("end_users.id", ondelete="CASCADE"), index=True)
    managed_apple_id: Mapped[str] = mapped_column(String(320))
    product: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("enrollment_grants.id"), unique=True)
