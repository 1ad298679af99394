"""Legacy devices known only from a list (another MDM's export, a spreadsheet): what the import said."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow

#: ``Device.status`` and ``Device.enrollment_method`` of an imported device: never enrolled here, so no
#: MDM path, scope or job (all of which select enrolled or pending devices) ever acts on it.
IMPORTED = "imported"


class LegacyImport(db.Model):
    """The device row (``enrollment_method`` "imported", status "imported") carries UDID, model and the
    owner's address; the serial number, which no enrolled device row holds, and the upload live here."""

    __tablename__ = "legacy_imports"

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    serial_number: Mapped[str] = mapped_column(String(40))
    batch_id: Mapped[str] = mapped_column(String(36), index=True)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    imported_by: Mapped[str] = mapped_column(String(320))
