"""Filtering the audit log, shared by the audit page and ``GET /api/v1/audit``."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Mapping

from sqlalchemy import Select, func, select

from .models import AuditEvent
from .paging import id_cursor, page_limit
from .search_text import text_parameter_problem

FILTERS = ("actor", "actor_type", "action", "target_type", "target_id")


class AuditQueryError(ValueError):
    """An audit filter is malformed; the message names it."""


@dataclass(frozen=True)
class AuditQuery:
    filters: dict[str, str]
    since: datetime | None
    until: datetime | None
    before_id: int | None
    limit: int


def _moment(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
        # In UTC here, as the database compares it: an offset can push a time past year 1 or 9999.
        return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    except ValueError:
        raise AuditQueryError(f"{name} must be an ISO 8601 date or time (2026-01-31 or 2026-01-31T12:00:00Z)") from None
    except OverflowError:
        raise AuditQueryError(f"{name} is outside the years 1 to 9999 once converted to UTC") from None


def parse_audit_query(args: Mapping[str, str], default_limit: int = 100) -> AuditQuery:
    problem = text_parameter_problem(args, FILTERS)
    if problem:
        raise AuditQueryError(problem)
    before_id = id_cursor(args, AuditQueryError)
    limit = page_limit(args, default_limit, AuditQueryError)
    filters = {name: args[name].strip()[:320] for name in FILTERS if args.get(name, "").strip()}
    return AuditQuery(filters=filters, since=_moment("since", args.get("since")),
                      until=_moment("until", args.get("until")), before_id=before_id, limit=limit)


def audit_statement(query: AuditQuery) -> Select:
    """Newest first; ``action`` matches a prefix (``command.`` finds every command event)."""
    statement = select(AuditEvent)
    for name, value in query.filters.items():
        column = getattr(AuditEvent, name)
        if name == "action":
            statement = statement.where(column.startswith(value, autoescape=True))
        elif name == "actor":
            statement = statement.where(func.lower(column) == value.lower())
        else:
            statement = statement.where(column == value)
    if query.since:
        statement = statement.where(AuditEvent.at >= query.since)
    if query.until:
        statement = statement.where(AuditEvent.at < query.until)
    if query.before_id:
        statement = statement.where(AuditEvent.id < query.before_id)
    return statement.order_by(AuditEvent.id.desc()).limit(query.limit + 1)


def run_audit_query(session, query: AuditQuery) -> tuple[list[AuditEvent], str | None]:
    events = list(session.scalars(audit_statement(query)))
    more = len(events) > query.limit
    events = events[:query.limit]
    return events, (str(events[-1].id) if more and events else None)
