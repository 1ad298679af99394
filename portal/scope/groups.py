"""Group memberships from the identity provider's groups claim, renewed at every sign-in."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..models import EndUser, Group, GroupMembership
from ..models.base import utcnow

SIGN_IN = "sign_in"
SCIM = "scim"
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def sync_memberships(session: Session, user: EndUser, names: Iterable[str], source: str = SIGN_IN) -> bool:
    """Make ``user``'s memberships from ``source`` exactly ``names``; True when any changed. The caller commits.

    Groups are created on first sight (concurrent sign-ins may both try: the insert ignores a
    conflict); memberships from other sources are left alone.
    """
    names = sorted(set(names))
    insert = _INSERTS[session.get_bind().dialect.name]
    if names:
        now = utcnow()
        session.execute(insert(Group.__table__).on_conflict_do_nothing(index_elements=["name"]),
                        [{"name": name, "source": source, "created_at": now} for name in names])
    wanted = set(session.scalars(select(Group.id).where(Group.name.in_(names)))) if names else set()
    current = set(session.scalars(select(GroupMembership.group_id).where(GroupMembership.user_id == user.id,
                                                                         GroupMembership.source == source)))
    if current - wanted:
        session.execute(delete(GroupMembership).where(GroupMembership.user_id == user.id,
                                                      GroupMembership.source == source,
                                                      GroupMembership.group_id.in_(current - wanted)))
    if wanted - current:
        session.execute(insert(GroupMembership.__table__).on_conflict_do_nothing(), [
            {"group_id": group_id, "user_id": user.id, "source": source} for group_id in sorted(wanted - current)])
    return current != wanted


def add_members(session: Session, group_id: int, user_ids: Iterable[int], source: str) -> set[int]:
    """Add memberships of ``group_id`` from ``source``; the user ids that were not members yet (the rows the
    insert wrote: one that exists is skipped by the database, so the group's members are never read). The
    caller commits."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return set()
    insert = _INSERTS[session.get_bind().dialect.name]
    return set(session.scalars(
        insert(GroupMembership.__table__).on_conflict_do_nothing().returning(GroupMembership.__table__.c.user_id),
        [{"group_id": group_id, "user_id": user_id, "source": source} for user_id in wanted]))


def remove_members(session: Session, group_id: int, user_ids: Iterable[int] | None, source: str) -> set[int]:
    """Remove memberships of ``group_id`` from ``source`` (all of them when ``user_ids`` is None); the user ids
    removed. The caller commits."""
    table = GroupMembership.__table__
    condition = (table.c.group_id == group_id) & (table.c.source == source)
    if user_ids is not None:
        wanted = sorted(set(user_ids))
        if not wanted:
            return set()
        condition &= table.c.user_id.in_(wanted)
    return set(session.scalars(table.delete().where(condition).returning(table.c.user_id)))
