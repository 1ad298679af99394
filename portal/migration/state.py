"""Where each legacy device enrollment stands in the migration, derived in SQL.

Stored: only what people did (``LegacyMigration``: notified, notice seen, un-enrollment sent).
Derived at read time, from rows the MDM endpoints already write:

- ``unenrolled``: the device checked out, or acknowledged the removal of its enrollment profile;
- ``failed``: the removal command ended in Error;
- ``re_enrolled``: after leaving, its owner has an enrolled User Enrollment made since the migration reached the
  device (the same ``user_id``; or its Managed Apple ID on a User Enrollment linked to nobody, or on any when the
  legacy device is linked to nobody: ``owned_by``'s rule);
- ``stalled``: un-enrollment sent and no answer for N days, or unenrolled and not re-enrolled
  for N days (N is the ``migration_stalled_after_days`` setting); never a device whose person was offboarded
  (nobody waits for them to check out or re-enroll: it stays ``unenroll_sent`` or ``unenrolled``).

Legacy devices imported from a list (``portal.migration.paper``, status ``imported``) were never
enrolled here: they are ``legacy`` or ``notified`` until their owner has a User Enrollment made since
the import (``re_enrolled``).

So the check-in path needs one hook only (a legacy device that enrolls again starts its migration over:
``portal.models.migration.restart_migration``), and the counts are one grouped query over the legacy devices.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement, Select, Subquery

from ..extensions import db
from ..models import Command, Device, EndUser, LegacyMigration
from ..models.base import utcnow
from ..models.device import DeviceStatus, owned_by
from ..models.legacy_import import IMPORTED
from ..paging import id_cursor, page_limit
from ..search_text import text_parameter_problem
from ..settings_store import get_setting, set_setting

STATES = ("legacy", "notified", "unenroll_sent", "unenrolled", "re_enrolled", "failed", "stalled")
STALLED_SETTING = "migration_stalled_after_days"
DEFAULT_STALLED_AFTER_DAYS = 7
STALLED_LIMITS = (1, 365)


class MigrationQueryError(ValueError):
    """A migration list parameter is invalid; the message names it."""


def stalled_after() -> timedelta:
    return timedelta(days=get_setting(STALLED_SETTING, DEFAULT_STALLED_AFTER_DAYS))


def set_stalled_after_days(days: Any) -> int:
    """Validate and store the stalled threshold; the caller audits and commits."""
    low, high = STALLED_LIMITS
    if isinstance(days, bool) or not isinstance(days, int) or not low <= days <= high:
        raise MigrationQueryError(f"stalled_after_days must be a whole number from {low} to {high}")
    set_setting(STALLED_SETTING, days)
    return days


def _left() -> ColumnElement:
    """The legacy enrollment has ended: CheckOut received, or the removal acknowledged."""
    return or_(Device.status == DeviceStatus.UNENROLLED, Command.status == "acknowledged")


def _left_at() -> ColumnElement:
    return func.coalesce(Device.unenrolled_at, Command.completed_at)


def _latest_user_enrollment(owner_column: str) -> Subquery:
    """Per owner (``user_id`` or ``managed_apple_id``), when their newest active User Enrollment was made; per address
    also when its newest one linked to nobody was (``unlinked_enrolled_at``)."""
    other = aliased(Device)
    owner = getattr(other, owner_column)
    columns = [owner.label("owner"), func.max(other.enrolled_at).label("enrolled_at")]
    if owner_column == "managed_apple_id":
        columns.append(func.max(case((other.user_id.is_(None), other.enrolled_at))).label("unlinked_enrolled_at"))
    return (select(*columns)
            .where(other.enrollment_type == "user", other.status == DeviceStatus.ENROLLED, owner.is_not(None))
            .group_by(owner).subquery(f"latest_user_enrollment_by_{owner_column}"))


class Tracked:
    """The legacy devices joined with everything their state needs, and the state over that join.

    Re-enrollment is a join on each owner's newest User Enrollment (hash joins), not a correlated
    subquery per device: that keeps the planner's estimate, and PostgreSQL's JIT, out of the way.
    The owner is ``owned_by``'s: a legacy device linked to a person is re-enrolled by a User Enrollment linked to
    them, or linked to nobody and made with the device's address; one linked to nobody, by any made with its address.
    So the next holder of an address does not complete the migration of the previous holder's device.
    """

    def __init__(self, now: datetime | None = None, stalled: timedelta | None = None) -> None:
        #: the person the device is linked to was not offboarded: one who was is asked nothing more, and their device
        #: never stalls (a join on the offboarded, a few rows, not on every person)
        self.offboarded = select(EndUser.id.label("id")).where(EndUser.offboarded_at.is_not(None)).subquery("offboarded")
        self.still_employed = still_employed = self.offboarded.c.id.is_(None)
        self.by_user = _latest_user_enrollment("user_id")
        self.by_apple_id = _latest_user_enrollment("managed_apple_id")
        #: when the newest User Enrollment made with the device's address that may be its owner's was made
        self.by_address = case((Device.user_id.is_(None), self.by_apple_id.c.enrolled_at),
                               else_=self.by_apple_id.c.unlinked_enrolled_at)
        cutoff = (now or utcnow()) - (stalled if stalled is not None else stalled_after())
        since = func.coalesce(LegacyMigration.created_at, _left_at())
        notified = or_(LegacyMigration.notified_at.is_not(None), LegacyMigration.notice_seen_at.is_not(None))
        #: the owner has a User Enrollment made since the migration reached the device (whether or not it left)
        self.re_enrolled = re_enrolled = or_(self.by_user.c.enrolled_at >= since, self.by_address >= since)
        after_leaving = case(
            (re_enrolled, "re_enrolled"),
            (and_(_left_at() < cutoff, still_employed), "stalled"),
            else_="unenrolled",
        )
        imported = case((re_enrolled, "re_enrolled"), (notified, "notified"), else_="legacy")
        self.state = case(
            (Device.status == IMPORTED, imported),
            (_left(), after_leaving),
            (Command.status == "error", "failed"),
            (and_(LegacyMigration.unenroll_sent_at < cutoff, still_employed), "stalled"),
            (LegacyMigration.unenroll_sent_at.is_not(None), "unenroll_sent"),
            (notified, "notified"),
            else_="legacy",
        )

    def select(self, *columns: Any) -> Select:
        """``columns`` over every legacy device enrollment that ever completed."""
        return (select(*columns).select_from(Device)
                .outerjoin(LegacyMigration, LegacyMigration.device_id == Device.id)
                .outerjoin(Command, Command.id == LegacyMigration.unenroll_command_id)
                .outerjoin(self.offboarded, self.offboarded.c.id == Device.user_id)
                .outerjoin(self.by_user, self.by_user.c.owner == Device.user_id)
                .outerjoin(self.by_apple_id, self.by_apple_id.c.owner == Device.managed_apple_id)
                .where(Device.enrollment_type == "device", or_(Device.enrolled_at.is_not(None), Device.status == IMPORTED)))

    def rows(self) -> Select:
        return self.select(Device, LegacyMigration, Command, self.state.label("state"))


def counts(now: datetime | None = None) -> dict[str, int]:
    """How many legacy devices are in each state: one grouped query."""
    tracked = Tracked(now)
    states = tracked.select(tracked.state.label("state")).subquery()
    rows = db.session.execute(select(states.c.state, func.count()).group_by(states.c.state)).all()
    result = {state: 0 for state in STATES}
    result.update({state: count for state, count in rows})
    return result


@dataclass(frozen=True)
class MigrationQuery:
    state: str | None = None
    user: str | None = None
    after_id: int | None = None
    limit: int = 100

    def args(self, **changes: Any) -> dict[str, str]:
        values = {"state": self.state, "user": self.user, "cursor": self.after_id, "limit": self.limit} | changes
        return {k: str(v) for k, v in values.items() if v not in (None, "")}


def parse_query(args: Mapping[str, str], *, default_limit: int = 100) -> MigrationQuery:
    problem = text_parameter_problem(args, ("user",))
    if problem:
        raise MigrationQueryError(problem)
    state = (args.get("state") or "").strip() or None
    if state is not None and state not in STATES:
        raise MigrationQueryError(f"state must be one of {', '.join(STATES)}")
    user = (args.get("user") or "").strip()[:320] or None
    after_id = id_cursor(args, MigrationQueryError)
    limit = page_limit(args, default_limit, MigrationQueryError)
    return MigrationQuery(state=state, user=user, after_id=after_id, limit=limit)


@dataclass(frozen=True)
class MigrationRow:
    device: Device
    migration: LegacyMigration | None
    command: Command | None
    state: str

    @property
    def waiting_for(self) -> str | None:
        """What a stalled device has not done: check out, or re-enroll with User Enrollment."""
        if self.state != "stalled":
            return None
        left = self.device.status == DeviceStatus.UNENROLLED or (self.command is not None
                                                                  and self.command.status == "acknowledged")
        return "re_enrollment" if left else "checkout"

    @property
    def left_at(self) -> datetime | None:
        if self.device.unenrolled_at:
            return self.device.unenrolled_at
        return self.command.completed_at if self.command is not None and self.command.status == "acknowledged" else None


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _filtered(statement: Select, query: MigrationQuery, tracked: Tracked) -> Select:
    if query.state:
        statement = statement.where(tracked.state == query.state)
    if query.user:
        pattern = _like(query.user)
        users = select(EndUser.id).where(or_(EndUser.email.ilike(pattern, escape="\\"),
                                             EndUser.name.ilike(pattern, escape="\\")))
        statement = statement.where(or_(Device.managed_apple_id.ilike(pattern, escape="\\"), Device.user_id.in_(users)))
    return statement


def matching_ids(query: MigrationQuery, states: tuple[str, ...], limit: int,
                 statuses: tuple[str, ...] = (DeviceStatus.ENROLLED,)) -> list[int]:
    """Ids of the legacy devices in ``statuses`` (active enrollments) matching the filters whose state is one of ``states``."""
    tracked = Tracked()
    statement = _filtered(tracked.select(Device.id), query, tracked).where(tracked.state.in_(states),
                                                                           Device.status.in_(statuses))
    return list(db.session.scalars(statement.order_by(Device.id).limit(limit)))


def page(query: MigrationQuery, now: datetime | None = None) -> tuple[list[MigrationRow], int | None]:
    """One page of legacy devices (newest first), and the cursor of the next page or None."""
    tracked = Tracked(now)
    statement = _filtered(tracked.rows(), query, tracked)
    if query.after_id is not None:
        statement = statement.where(Device.id < query.after_id)
    rows = db.session.execute(statement.order_by(Device.id.desc()).limit(query.limit + 1)).all()
    result = [MigrationRow(*row) for row in rows[:query.limit]]
    more = len(rows) > query.limit
    return result, result[-1].device.id if more and result else None


def rows_for_devices(device_ids: list[int], now: datetime | None = None) -> list[MigrationRow]:
    """The migration rows of these devices (those that are tracked legacy devices)."""
    if not device_ids:
        return []
    statement = Tracked(now).rows().where(Device.id.in_(device_ids))
    return [MigrationRow(*row) for row in db.session.execute(statement.order_by(Device.id)).all()]


def not_re_enrolled(device_ids: Select) -> list[MigrationRow]:
    """The migration rows of the legacy devices ``device_ids`` selects whose owner has no User Enrollment made
    since the migration began and was not offboarded (nobody asks a former employee to re-enroll), in one statement."""
    tracked = Tracked()
    statement = tracked.rows().where(Device.id.in_(device_ids), ~func.coalesce(tracked.re_enrolled, False),
                                     tracked.still_employed)
    return [MigrationRow(*row) for row in db.session.execute(statement.order_by(Device.id)).all()]


def legacy_device_ids_of(user: EndUser) -> list[int]:
    """The employee's legacy device enrollments (``owned_by``: by account, or by Managed Apple ID for API-made ones)."""
    return list(db.session.scalars(select(Device.id).where(
        Device.enrollment_type == "device", Device.enrolled_at.is_not(None), owned_by(user))))


def re_enrollment_of(row: MigrationRow) -> Device | None:
    """The User Enrollment that completed the migration of ``row``'s device, if any."""
    if row.state != "re_enrolled":
        return None
    device = row.device
    since = row.migration.created_at if row.migration is not None else row.left_at
    owner = Device.managed_apple_id == device.managed_apple_id
    if device.user_id is not None:  # its person's, or made with its address by nobody's (``Tracked``)
        owner = or_(Device.user_id == device.user_id, and_(Device.user_id.is_(None), owner))
    return db.session.scalar(select(Device).where(Device.enrollment_type == "user",
                                                  Device.status == DeviceStatus.ENROLLED,
                                                  Device.enrolled_at >= since, owner)
                             .order_by(Device.enrolled_at).limit(1))
