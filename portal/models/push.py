"""The push outbox: a push is recorded here, in the transaction that queues the command,
before any worker sends it, so a worker that dies loses nothing."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


class PushOutbox(db.Model):
    """One pending push per device (pushes coalesce): the row lives until APNs accepts it.

    ``generation`` grows with every new request, so a request that arrives while a push is
    in flight survives that push's delivery. A worker holds a row until ``claimed_until``;
    past it (the worker died) another worker takes it over.
    """

    __tablename__ = "push_outbox"
    __table_args__ = (Index("ix_push_outbox_due", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), unique=True)
    generation: Mapped[int] = mapped_column(default=1)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
