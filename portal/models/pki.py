"""Keys and certificates the server holds, and each one-time enrollment authorisation."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow

if TYPE_CHECKING:
    from .user import EndUser


class PkiIdentity(db.Model):
    """A certificate with its private key (encrypted with a key derived from SECRET_KEY)."""

    __tablename__ = "pki_identities"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)  # device_ca, profile_signer, user_identity_ca
    certificate_pem: Mapped[bytes] = mapped_column(LargeBinary)
    private_key_pem: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EnrollmentGrant(db.Model):
    """One minted enrollment profile: who it is for, and its one-time SCEP challenge."""

    __tablename__ = "enrollment_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_type: Mapped[str] = mapped_column(String(10))
    enrollment_method: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("end_users.id"), index=True)
    user: Mapped["EndUser | None"] = relationship("EndUser")
    managed_apple_id: Mapped[str | None] = mapped_column(String(320))
    challenge_hash: Mapped[str] = mapped_column(String(64), unique=True)
    challenge_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    challenge_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    certificate_fingerprint: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
