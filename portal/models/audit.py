"""The append-only audit log: who did what, to what, when, from where."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, event, func
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    # One index a filter of the log (``portal.audit_search``), newest first within it by ``id``; ``action`` is
    # searched by prefix, which a btree serves on PostgreSQL with the pattern operator class only.
    __table_args__ = (Index("ix_audit_events_action", "action", postgresql_ops={"action": "varchar_pattern_ops"}),
                      Index("ix_audit_events_actor_type", "actor_type", "id"),
                      Index("ix_audit_events_target", "target_type", "target_id", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_type: Mapped[str] = mapped_column(String(20))  # admin, api, user, device, system
    actor: Mapped[str | None] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(100))
    target_type: Mapped[str | None] = mapped_column(String(50))
    target_id: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    remote_addr: Mapped[str | None] = mapped_column(String(64))


# ``actor`` is compared case-insensitively (``lower(actor) = ...``): the index is on that expression.
Index("ix_audit_events_actor_lower", func.lower(AuditEvent.actor), AuditEvent.id)


class AuditLogIsAppendOnly(RuntimeError):
    """Something tried to change or delete an audit event."""


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_change(_mapper, _connection, target: AuditEvent) -> None:
    raise AuditLogIsAppendOnly(f"audit event {target.id} cannot be changed or deleted")
