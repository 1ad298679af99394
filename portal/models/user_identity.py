"""One-time SCEP challenges for user identities (Wi-Fi, VPN, mail), each bound to one device and one profile."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


class UserIdentityChallenge(db.Model):
    """A challenge sent in one device's copy of a profile; only its SHA-256 is kept."""

    __tablename__ = "user_identity_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    profile_identifier: Mapped[str] = mapped_column(String(255))
    challenge_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    certificate_fingerprint: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
