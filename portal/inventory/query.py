"""Finding devices: one search/filter/sort/cursor model shared by the device page, the API and
bulk commands, so "the devices matching this search" means the same everywhere.

Keyset pagination on ``(sort value, id)`` keeps every page as cheap as the first.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from sqlalchemy import Select, and_, func, literal, or_, select, true, tuple_, union
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.elements import ColumnElement

from ..ids import json_id, parse_int
from ..models import Device, EndUser
from ..models.device import DEVICE_STATUSES, SEARCHED_COLUMNS, DeviceStatus, sort_value
from ..models.base import utcnow
from ..paging import page_limit
from ..search_text import searchable, text_parameter_problem

MAX_DAYS = 36500
USER_SEARCHED_COLUMNS = ("name", "email")
SORTS = {
    "id": Device.id,
    "last_seen_at": Device.last_seen_at,
    "managed_apple_id": Device.managed_apple_id,
    "os_version": Device.os_version,
    "model": Device.model,
}
_DATETIME_SORTS = frozenset({"last_seen_at"})
FILTER_VALUES = {
    "enrollment_type": ("user", "device"),
    "method": ("profile_driven", "account_driven", "legacy", "api"),
    "status": DEVICE_STATUSES,
}


#: The parameters that choose which devices match (not how they are sorted or paged): what the device
#: page carries into its "all devices matching this search" form and what a bulk command reads back.
SEARCH_PARAMETERS = ("q", "enrollment_type", "method", "status", "managed_apple_id", "flagged",
                     "seen_within_days", "not_seen_for_days")


class DeviceQueryError(ValueError):
    """A search parameter is not one we accept; the message names it and what is allowed."""


@dataclass(frozen=True)
class DeviceQuery:
    q: str | None = None
    enrollment_type: str | None = None
    method: str | None = None
    status: str | None = None
    managed_apple_id: str | None = None
    flagged: bool | None = None
    seen_within_days: int | None = None
    not_seen_for_days: int | None = None
    sort: str = "id"
    descending: bool = False
    cursor: str | None = None
    limit: int = 100

    def args(self, **changes: Any) -> dict[str, str]:
        """The query-string form of this search (for links that keep it)."""
        query = replace(self, **changes)
        values = {"q": query.q, "enrollment_type": query.enrollment_type, "method": query.method,
                  "status": query.status, "managed_apple_id": query.managed_apple_id,
                  "flagged": None if query.flagged is None else ("true" if query.flagged else "false"),
                  "seen_within_days": query.seen_within_days, "not_seen_for_days": query.not_seen_for_days,
                  "sort": None if query.sort == "id" and not query.descending else ("-" if query.descending else "") + query.sort,
                  "cursor": query.cursor}
        return {k: str(v) for k, v in values.items() if v not in (None, "")}

    def search_args(self) -> dict[str, str]:
        """Only the SEARCH_PARAMETERS of :meth:`args`: which devices, not their order or page."""
        return {k: v for k, v in self.args().items() if k in SEARCH_PARAMETERS}


def _days(name: str, value: str | None) -> int | None:
    if value in (None, ""):
        return None
    days = parse_int(value, minimum=0, maximum=MAX_DAYS)
    if days is None:
        raise DeviceQueryError(f"{name} must be a whole number of days from 0 to {MAX_DAYS}")
    return days


def parse_query(args: Mapping[str, str], *, default_limit: int = 100, default_sort: str = "id") -> DeviceQuery:
    """Read a DeviceQuery from request arguments; DeviceQueryError names the bad one."""
    problem = text_parameter_problem(args, SEARCH_PARAMETERS + ("sort", "cursor", "limit"))
    if problem:
        raise DeviceQueryError(problem)
    for name, allowed in FILTER_VALUES.items():
        if args.get(name) and args[name] not in allowed:
            raise DeviceQueryError(f"{name} must be one of {', '.join(allowed)}")
    sort = args.get("sort") or default_sort
    descending = sort.startswith("-")
    sort = sort.lstrip("-")
    if sort not in SORTS:
        raise DeviceQueryError(f"sort must be one of {', '.join(SORTS)} (prefix - for descending)")
    flagged = args.get("flagged")
    if flagged not in (None, "", "true", "false", "1", "0"):
        raise DeviceQueryError("flagged must be true or false")
    limit = page_limit(args, default_limit, DeviceQueryError)
    q = (args.get("q") or "").strip()[:200] or None
    query = DeviceQuery(q=q, enrollment_type=args.get("enrollment_type") or None, method=args.get("method") or None,
                       status=args.get("status") or None, managed_apple_id=args.get("managed_apple_id") or None,
                       flagged=None if flagged in (None, "") else flagged in ("true", "1"),
                       seen_within_days=_days("seen_within_days", args.get("seen_within_days")),
                       not_seen_for_days=_days("not_seen_for_days", args.get("not_seen_for_days")),
                       sort=sort, descending=descending, cursor=args.get("cursor") or None, limit=limit)
    if query.cursor:
        _decode_cursor(query)  # refuse a bad cursor here, with the other parameters
    return query


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _sort_expression(sort: str) -> ColumnElement:
    """Sort values without NULLs, so (value, id) keysets compare on every backend; each has an index on
    (value, id) (``sort_value``). ``id`` and ``last_seen_at`` are never NULL and sort on their own indexes.
    """
    column = SORTS[sort]
    if sort == "id" or sort in _DATETIME_SORTS:
        return column
    return sort_value(column)


def filter_conditions(query: DeviceQuery, stale_after: timedelta, now: datetime | None = None) -> list[ColumnElement]:
    """WHERE conditions for the query's search and filters (no sort, no cursor)."""
    now = now or utcnow()
    conditions: list[ColumnElement] = []
    if query.q:
        # A UNION of one simple predicate per column, so each uses its own (trigram) index; one OR
        # of them all makes the planner scan and pattern-match every row.
        pattern = _like(query.q)
        users = union(*(select(EndUser.id).where(getattr(EndUser, column).ilike(pattern, escape="\\"))
                        for column in USER_SEARCHED_COLUMNS))
        branches = [select(Device.id).where(getattr(Device, column).ilike(pattern, escape="\\"))
                    for column in SEARCHED_COLUMNS]
        branches.append(select(Device.id).where(Device.user_id.in_(users)))
        conditions.append(Device.id.in_(union(*branches)))
    if query.enrollment_type:
        conditions.append(Device.enrollment_type == query.enrollment_type)
    if query.method:
        conditions.append(Device.enrollment_method == query.method)
    if query.status:
        conditions.append(Device.status == query.status)
    if query.managed_apple_id:
        conditions.append(Device.managed_apple_id == query.managed_apple_id)
    if query.flagged is not None:
        stale = and_(Device.status == DeviceStatus.ENROLLED, Device.last_seen_at < now - stale_after)
        conditions.append(stale if query.flagged else ~stale)
    if query.seen_within_days is not None:
        conditions.append(Device.last_seen_at >= now - timedelta(days=query.seen_within_days))
    if query.not_seen_for_days is not None:
        conditions.append(or_(Device.last_seen_at.is_(None),
                              Device.last_seen_at < now - timedelta(days=query.not_seen_for_days)))
    return conditions


def encode_cursor(query: DeviceQuery, device: Device) -> str:
    value = getattr(device, query.sort) if query.sort != "id" else None
    if query.sort in _DATETIME_SORTS:
        value = value.isoformat()
    elif query.sort != "id":
        value = value or ""
    raw = json.dumps([query.sort, query.descending, value, device.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(query: DeviceQuery) -> tuple[Any, int]:
    try:
        raw = base64.urlsafe_b64decode(query.cursor + "=" * (-len(query.cursor) % 4))
        sort, descending, value, device_id = json.loads(raw)
        if sort != query.sort or descending != query.descending or json_id(device_id) is None:
            raise ValueError
        if sort in _DATETIME_SORTS:
            value = datetime.fromisoformat(value)
            if value.tzinfo is None:  # the stored times are aware; comparing naive with aware raises
                raise ValueError
            value = value.astimezone(timezone.utc)  # OverflowError past year 1 or 9999, here and not in the query
        elif sort != "id" and not (isinstance(value, str) and searchable(value)):
            raise ValueError
    except (ValueError, TypeError, OverflowError, RecursionError, binascii.Error, json.JSONDecodeError):
        raise DeviceQueryError("cursor is not one this search returned (start again without it)") from None
    return value, device_id


def page_statement(query: DeviceQuery, stale_after: timedelta) -> Select:
    """SELECT one page (limit + 1 rows, the extra one says there is a next page)."""
    # The user comes in one extra IN query, not a join that would defeat the sort index.
    statement = select(Device).options(selectinload(Device.user)).where(*filter_conditions(query, stale_after))
    key = _sort_expression(query.sort)
    if query.cursor:
        value, device_id = _decode_cursor(query)
        if query.sort == "id":
            after = Device.id < device_id if query.descending else Device.id > device_id
        else:
            pair, bound = tuple_(key, Device.id), tuple_(literal(value, key.type), literal(device_id))
            after = pair < bound if query.descending else pair > bound
        statement = statement.where(after)
    order = (key.desc(), Device.id.desc()) if query.descending else (key.asc(), Device.id.asc())
    if query.sort == "id":
        order = order[:1]
    return statement.order_by(*order).limit(query.limit + 1)


def count_statement(query: DeviceQuery, stale_after: timedelta) -> Select:
    return select(func.count()).select_from(Device).where(*filter_conditions(query, stale_after) or [true()])


def ids_statement(query: DeviceQuery, stale_after: timedelta) -> Select:
    """The ids of every device matching the search (bulk commands on a search result)."""
    return select(Device.id).where(*filter_conditions(query, stale_after)).order_by(Device.id)


@dataclass(frozen=True)
class DevicePage:
    devices: list[Device]
    next_cursor: str | None


def run_page(session: Session, query: DeviceQuery, stale_after: timedelta) -> DevicePage:
    rows = session.scalars(page_statement(query, stale_after)).unique().all()
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    return DevicePage(devices=rows, next_cursor=encode_cursor(query, rows[-1]) if more and rows else None)
