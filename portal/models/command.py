"""The persistent per-device command queue and each command's result."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


#: The error chain of a command the server finished itself because its enrollment ended (CheckOut):
#: the device will never answer it, and a later enrollment of the same device must not receive it.
ENROLLMENT_ENDED_ERROR_CHAIN = [{"ErrorDomain": "MDMServer", "ErrorCode": 0, "LocalizedDescription": "enrollment ended",
                                 "USEnglishDescription": "enrollment ended before the device answered"}]


class Command(db.Model):
    __tablename__ = "commands"
    __table_args__ = (Index("ix_commands_device_status_id", "device_id", "status", "id"),
                      Index("ix_commands_bulk_id_status", "bulk_id", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    command_uuid: Mapped[str] = mapped_column(String(64), unique=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    request_type: Mapped[str] = mapped_column(String(80))
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # the {CommandUUID, Command} plist as sent
    status: Mapped[str] = mapped_column(String(16), default="queued")
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[bytes | None] = mapped_column(LargeBinary)  # the device's report, as received
    error_chain: Mapped[list | None] = mapped_column(JSON)
    bulk_id: Mapped[str | None] = mapped_column(ForeignKey("bulk_commands.id", ondelete="SET NULL"))


class BulkCommand(db.Model):
    """One command sent to many devices; each device's command row carries its ``bulk_id``."""

    __tablename__ = "bulk_commands"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    request_type: Mapped[str] = mapped_column(String(80))
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[list] = mapped_column(JSON, default=list)  # [{"device_id", "reason"}]
