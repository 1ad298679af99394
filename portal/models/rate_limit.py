"""Rate-limit counters: one row per key and fixed window, shared by every web worker and node."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime


class RateLimitHit(db.Model):
    """How many requests ``key`` (``<limit>:ip:<address>`` or ``<limit>:account:<account>``) made in
    the window that ends at ``resets_at``. Rows of past windows are dead weight the worker deletes."""

    __tablename__ = "rate_limit_hits"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    resets_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
