"""Smart groups: saved device searches over inventory, evaluated in SQL whenever a scope is resolved.

Criteria (all optional, all must hold): ``os_version_min`` and ``os_version_max`` (inclusive, such
as ``"16.4"``), ``model_family`` (the start of the product name: ``iPhone``, ``iPad``),
``enrollment_type`` (``user`` or ``device``), ``enrollment_method``, ``last_seen_after`` and
``last_seen_before`` (ISO 8601 with a zone), ``flagged`` (not seen for the stale period).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from .. import audit
from ..inventory.query import FILTER_VALUES, DeviceQuery, filter_conditions
from ..models import Device, SmartGroup
from .versions import VERSION, os_version_key, version_key

CRITERIA = ("os_version_min", "os_version_max", "model_family", "enrollment_type", "enrollment_method",
            "last_seen_after", "last_seen_before", "flagged")
MAX_NAME = 255


class CriteriaError(ValueError):
    """The criteria are not ones we accept; the message names the key."""


class InvalidName(CriteriaError):
    """A smart group's name that is empty, too long or not printable."""


def parse_criteria(raw: Any) -> dict[str, Any]:
    """The criteria as stored (validated, normalised), or CriteriaError."""
    if not isinstance(raw, Mapping):
        raise CriteriaError("criteria must be an object")
    unknown = sorted(str(key) for key in raw if key not in CRITERIA)
    if unknown:
        raise CriteriaError(f"unknown criteria {', '.join(unknown)[:200]}; known: {', '.join(CRITERIA)}")
    criteria: dict[str, Any] = {}
    for key in ("os_version_min", "os_version_max"):
        if raw.get(key) is not None:
            if not isinstance(raw[key], str) or not VERSION.match(raw[key]):
                raise CriteriaError(f"{key} must be a version such as 17.5 or 17.5.1")
            criteria[key] = raw[key]
    if raw.get("model_family") is not None:
        family = raw["model_family"]
        if not isinstance(family, str) or not family.isprintable() or not 0 < len(family) <= 40:
            raise CriteriaError("model_family must be a product name prefix such as iPhone or iPad")
        criteria["model_family"] = family
    for key, allowed in (("enrollment_type", FILTER_VALUES["enrollment_type"]),
                         ("enrollment_method", FILTER_VALUES["method"])):
        if raw.get(key) is not None:
            if raw[key] not in allowed:
                raise CriteriaError(f"{key} must be one of {', '.join(allowed)}")
            criteria[key] = raw[key]
    for key in ("last_seen_after", "last_seen_before"):
        if raw.get(key) is not None:
            criteria[key] = _moment(key, raw[key]).isoformat()
    if raw.get("flagged") is not None:
        if not isinstance(raw["flagged"], bool):
            raise CriteriaError("flagged must be true or false")
        criteria["flagged"] = raw["flagged"]
    return criteria


def _moment(key: str, value: Any) -> datetime:
    """The time in UTC, as the database compares it: an offset can push a time past year 1 or 9999."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise CriteriaError(f"{key} must be an ISO 8601 date and time with a zone, such as 2026-01-31T00:00:00Z")
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise CriteriaError(f"{key} is outside the years 1 to 9999 once converted to UTC") from None


def _stored_moment(value: str) -> datetime:
    """A stored time in UTC; one stored before times were kept in UTC may lie past year 1 or 9999 there, which
    every last check-in is after (year 1) or before (year 9999), so the calendar's end stands in for it."""
    moment = datetime.fromisoformat(value)
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        return (datetime.min if moment.year == 1 else datetime.max).replace(tzinfo=timezone.utc)


def only_device_enrollments(criteria: Mapping[str, Any]) -> bool:
    """Whether these criteria can only match legacy device enrollments."""
    return criteria.get("enrollment_type") == "device" or criteria.get("enrollment_method") == "legacy"


def matches(criteria: Mapping[str, Any], stale_after: timedelta, now: datetime) -> ColumnElement:
    """One SQL condition on ``devices``: the device matches the criteria."""
    query = DeviceQuery(enrollment_type=criteria.get("enrollment_type"), method=criteria.get("enrollment_method"),
                        flagged=criteria.get("flagged"))
    conditions = filter_conditions(query, stale_after, now)
    if "os_version_min" in criteria:
        conditions.append(os_version_key(Device.os_version) >= version_key(criteria["os_version_min"]))
    if "os_version_max" in criteria:
        conditions.append(os_version_key(Device.os_version) <= version_key(criteria["os_version_max"]))
    if "model_family" in criteria:
        escaped = criteria["model_family"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(Device.product_name.like(f"{escaped}%", escape="\\"))
    if "last_seen_after" in criteria:
        conditions.append(Device.last_seen_at >= _stored_moment(criteria["last_seen_after"]))
    if "last_seen_before" in criteria:
        conditions.append(Device.last_seen_at < _stored_moment(criteria["last_seen_before"]))
    return and_(*conditions) if conditions else Device.id.isnot(None)


def count_members(session, group: SmartGroup, stale_after: timedelta, now: datetime) -> int:
    """How many enrolled or enrolling devices the smart group holds now."""
    return member_counts(session, [group], stale_after, now)[group.id]


def member_counts(session, groups: list[SmartGroup], stale_after: timedelta, now: datetime) -> dict[int, int]:
    """``count_members`` of each group, in one statement over ``devices`` (a list page's counts)."""
    if not groups:
        return {}
    row = session.execute(select(*(func.count(case((matches(group.criteria, stale_after, now), 1)))
                                   for group in groups))
                          .select_from(Device).where(Device.status.in_(("enrolled", "pending")))).one()
    return {group.id: count for group, count in zip(groups, row)}


def new_smart_group(session: Session, name: Any, raw_criteria: Any, actor: str) -> SmartGroup:
    """A new smart group, audited (the API and the admin page alike); InvalidName or CriteriaError when the
    name or the criteria are not valid. The caller commits."""
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise InvalidName(f"name must be printable, 1 to {MAX_NAME} characters")
    criteria = parse_criteria(raw_criteria)
    group = SmartGroup(name=name, criteria=criteria, created_by=actor)
    session.add(group)
    session.flush()
    audit.record("smart_group.created", target_type="smart_group", target_id=group.id,
                 detail={"name": name, "criteria": criteria})
    return group
