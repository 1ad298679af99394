"""Each employee's acknowledgement of the privacy disclosure, tied to the exact text they read."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


class PrivacyAcknowledgement(db.Model):
    __tablename__ = "privacy_acknowledgements"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("end_users.id", ondelete="CASCADE"), index=True)
    disclosure_version: Mapped[str] = mapped_column(String(64))  # EnrollmentSettings.privacy_disclosure_version
    disclosure_text: Mapped[str] = mapped_column(db.Text)  # the text as shown, so the record stands alone
    acknowledged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
