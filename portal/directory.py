"""People and groups as the admin pages list them: search, state, devices, members, one page at a time.

One query per page (devices and members counted in SQL), whatever the size of the directory.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select

from .extensions import db
from .models import Device, EndUser, Group, GroupMembership
from .models.device import DeviceStatus, owned_by
from .offboarding.status import retiring_device_ids

PAGE_SIZE = 50


@dataclass(frozen=True)
class PersonRow:
    person: EndUser
    devices: int

    @property
    def source(self) -> str:
        if self.person.scim_id and self.person.subject:
            return "SCIM + sign-in"
        return "SCIM" if self.person.scim_id else ("sign-in" if self.person.subject else "removed from SCIM")

    @property
    def state(self) -> str:
        return "offboarded" if self.person.offboarded_at else "active"


def _enrolled_devices_of(person: Any) -> Any:
    return (select(func.count()).where(owned_by(person), Device.status == DeviceStatus.ENROLLED)
            .correlate(person).scalar_subquery())


def people(q: str | None, page: int) -> tuple[list[PersonRow], int]:
    """A page of people (newest first) matching ``q`` in name, e-mail or Managed Apple ID, and the total."""
    statement = select(EndUser)
    if q:
        statement = statement.where(or_(*(column.icontains(q, autoescape=True)
                                          for column in (EndUser.name, EndUser.email, EndUser.managed_apple_id))))
    total = db.session.scalar(select(func.count()).select_from(statement.subquery()))
    rows = db.session.execute(statement.add_columns(_enrolled_devices_of(EndUser)).order_by(EndUser.id.desc())
                              .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return [PersonRow(person, devices) for person, devices in rows], total


def person_detail(person: EndUser) -> dict[str, Any]:
    """The person's groups (with the source of each membership) and every enrollment, retiring ones marked."""
    groups = db.session.execute(select(Group, GroupMembership.source).join(GroupMembership)
                                .where(GroupMembership.user_id == person.id).order_by(Group.name)).all()
    devices = db.session.scalars(select(Device).where(owned_by(person)).order_by(Device.id.desc())).all()
    return {"groups": groups, "devices": devices, "retiring": retiring_device_ids(person.id)}


def groups(q: str | None, page: int) -> tuple[list[tuple[Group, int]], int]:
    members = (select(func.count()).where(GroupMembership.group_id == Group.id).correlate(Group).scalar_subquery())
    statement = select(Group)
    if q:
        statement = statement.where(Group.name.icontains(q, autoescape=True))
    total = db.session.scalar(select(func.count()).select_from(statement.subquery()))
    rows = db.session.execute(statement.add_columns(members).order_by(Group.name)
                              .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return [(group, count) for group, count in rows], total


def group_members(group: Group, page: int) -> tuple[list[tuple[EndUser, str]], int]:
    total = db.session.scalar(select(func.count()).where(GroupMembership.group_id == group.id))
    rows = db.session.execute(select(EndUser, GroupMembership.source).join(GroupMembership)
                              .where(GroupMembership.group_id == group.id).order_by(EndUser.managed_apple_id)
                              .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return [(person, source) for person, source in rows], total
