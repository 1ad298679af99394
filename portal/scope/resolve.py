"""A scope resolved to device ids in one SQL statement: the union of its targets minus its exclusions.

Only enrolled (or enrolling) devices are in scope, and never one being retired (its person was
offboarded); user-enrolled ones always may be, legacy device enrollments only when the scope ticks
``include_legacy``. A user target matches the devices
enrolled with that Managed Apple ID; a group target the devices of its members (by Managed Apple
ID, so a device minted through the API for a person counts as theirs too).
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, except_, false, func, or_, select
from sqlalchemy.orm import Session

from ..models import Device, EndUser, EnrollmentRetirement, Group, GroupMembership
from ..models.device import DeviceStatus
from .smart_groups import matches
from .targets import Scope, Targets

ACTIVE_STATUSES = (DeviceStatus.ENROLLED, DeviceStatus.PENDING)
ENROLLMENT_TYPES = ("user", "device")


def _member_conditions(targets: Targets, criteria: Mapping[int, Mapping[str, Any]], stale_after: timedelta,
                       now: datetime) -> list[ColumnElement]:
    conditions: list[ColumnElement] = []
    if targets.groups:
        members = (select(EndUser.managed_apple_id).join(GroupMembership, GroupMembership.user_id == EndUser.id)
                   .join(Group, Group.id == GroupMembership.group_id).where(Group.name.in_(targets.groups)))
        conditions.append(Device.managed_apple_id.in_(members))
    if targets.users:
        conditions.append(Device.managed_apple_id.in_(targets.users))
    conditions.extend(matches(criteria[group_id], stale_after, now) for group_id in targets.smart_groups)
    return conditions


def devices_in(scope: Scope, criteria: Mapping[int, Mapping[str, Any]], *, stale_after: timedelta, now: datetime,
               enrollment_types: Collection[str] = ENROLLMENT_TYPES) -> Select:
    """SELECT the ids of the devices in ``scope`` (``criteria``: its smart groups' criteria by id).

    ``enrollment_types`` narrows the devices an item may reach at all (a profile User Enrollment
    forbids never reaches a user-enrolled device, whatever its scope says).
    """
    types = [kind for kind in enrollment_types if kind == "user" or scope.include_legacy]
    include = _member_conditions(scope.include, criteria, stale_after, now)
    if scope.all_user_enrolled:
        include.append(Device.enrollment_type == "user")
    if not include or not types:
        return select(Device.id).where(false())
    statement = select(Device.id).where(Device.status.in_(ACTIVE_STATUSES), Device.enrollment_type.in_(types),
                                        or_(*include), Device.id.not_in(select(EnrollmentRetirement.device_id)))
    exclude = _member_conditions(scope.exclude, criteria, stale_after, now)
    if exclude:  # NOT IN over ids, never NULL: a device without a Managed Apple ID is not excluded by accident
        statement = statement.where(Device.id.not_in(select(Device.id).where(or_(*exclude))))
    return statement


def change_counts(session: Session, before: Select, after: Select) -> tuple[int, int]:
    """``(devices added, devices removed)`` going from scope ``before`` to ``after``, in one statement."""
    added = select(func.count()).select_from(except_(after, before).subquery()).scalar_subquery()
    removed = select(func.count()).select_from(except_(before, after).subquery()).scalar_subquery()
    return tuple(session.execute(select(added, removed)).one())
