"""SCIM Groups as the scope's ``Group`` rows, with memberships of source ``scim``.

A group the sign-in claim created first is adopted by the directory's group of the same name, so both
feed one set of records. Member changes are set-based (a PATCH adding 500 members is a few statements)
and re-scope the affected people's devices at once through ``portal.desired_state.users_changed``.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from scim2_models import Context, Group as GroupModel
from sqlalchemy import func, select, update

from .. import audit
from ..desired_state import users_changed
from ..extensions import db
from ..models import EndUser, Group, GroupMembership, ScopeTarget
from ..models.base import utcnow
from ..scope.groups import SCIM, add_members, remove_members
from .filters import Stored, condition, string_condition
from .problems import ScimProblem
from .protocol import excluded, issued, location, meta, one_line, validated

GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
_USER_CHUNK = 5000


def _has_member(op: Any, value: Any) -> Any:
    """``members.value eq "<user id>"`` (or ``members pr``): the groups with such a SCIM member."""
    matching = EndUser.scim_id.is_not(None) if op is None else string_condition(EndUser.scim_id, op, value, stored=True)
    return Group.id.in_(select(GroupMembership.group_id).join(EndUser, EndUser.id == GroupMembership.user_id)
                        .where(GroupMembership.source == SCIM, matching))


ATTRIBUTES = {
    "id": Stored(Group.scim_id),
    "displayname": Group.name,
    "externalid": Stored(Group.external_id, case_exact=True),
    "members.value": _has_member,
}


def linked() -> Any:
    return select(Group).where(Group.scim_id.is_not(None))


def find(scim_id: str) -> Group:
    group = db.session.scalar(linked().where(Group.scim_id == scim_id)) if issued(scim_id) else None
    if group is None:
        raise ScimProblem(404, f"no group with id '{scim_id}'")
    return group


def search(filter_text: str | None) -> Any:
    return linked().where(condition(filter_text, GroupModel, ATTRIBUTES))


def resources(groups: list[Group]) -> list[dict[str, Any]]:
    """Each group's resource; the members of all of them are read in one query (unless excluded)."""
    members: dict[int, list[dict[str, Any]]] = {group.id: [] for group in groups}
    if groups and not excluded("members"):
        rows = db.session.execute(select(GroupMembership.group_id, EndUser.scim_id, EndUser.name)
                                  .join(EndUser, EndUser.id == GroupMembership.user_id)
                                  .where(GroupMembership.group_id.in_(members), GroupMembership.source == SCIM,
                                         EndUser.scim_id.is_not(None)).order_by(EndUser.id))
        for group_id, user_id, name in rows:
            members[group_id].append({"value": user_id, "display": name, "$ref": location("Users", user_id)})
    return [_resource(group, members[group.id]) for group in groups]


def _resource(group: Group, members: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "id": group.scim_id, "displayName": group.name}
    if group.external_id:
        body["externalId"] = group.external_id
    if not excluded("members"):
        body["members"] = members
    body["meta"] = meta("Groups", group.scim_id, group.created_at, group.updated_at)
    return body


def create(document: dict[str, Any]) -> Group:
    model = validated(GroupModel, document, Context.RESOURCE_CREATION_REQUEST)
    name = _name(model.display_name)
    group = db.session.scalar(select(Group).where(Group.name == name))
    if group is not None and group.scim_id is not None:
        raise ScimProblem(409, f"a group named '{name}' already exists", "uniqueness")
    adopted = group is not None
    if group is None:
        group = Group(name=name, source=SCIM, created_at=utcnow())
        db.session.add(group)
    set_external_id(group, model.external_id)
    group.scim_id, group.updated_at = str(uuid.uuid4()), utcnow()
    db.session.flush()
    changed = add_members(db.session, group.id, resolve_members(_values(model.members)), SCIM)
    users_changed(db.session, changed)
    audit.record("scim.group.created", target_type="group", target_id=group.id,
                 detail={"name": name, "adopted": adopted, "members": len(changed)})
    return group


def replace(group: Group, document: dict[str, Any]) -> None:
    model = validated(GroupModel, document, Context.RESOURCE_REPLACEMENT_REQUEST)
    rename(group, model.display_name)
    set_external_id(group, model.external_id)
    changed = replace_members(group, resolve_members(_values(model.members)))
    finish(group, "scim.group.replaced", changed)


def finish(group: Group, action: str, changed: set[int]) -> None:
    """Stamp the change, re-scope the people it moved, audit it. The caller commits."""
    group.updated_at = utcnow()
    users_changed(db.session, changed)
    audit.record(action, target_type="group", target_id=group.id, detail={"name": group.name, "people_moved": len(changed)})


def replace_members(group: Group, user_ids: set[int]) -> set[int]:
    current = set(db.session.scalars(select(GroupMembership.user_id).where(GroupMembership.group_id == group.id,
                                                                           GroupMembership.source == SCIM)))
    removed = remove_members(db.session, group.id, current - user_ids, SCIM)
    return removed | add_members(db.session, group.id, user_ids - current, SCIM)


def delete(group: Group) -> None:
    """The directory's group ends: its memberships go; a group the sign-in claim also feeds stays, unlinked."""
    changed = remove_members(db.session, group.id, None, SCIM)
    users_changed(db.session, changed)
    audit.record("scim.group.deleted", target_type="group", target_id=group.id,
                 detail={"name": group.name, "people_moved": len(changed)})
    if db.session.scalar(select(func.count()).where(GroupMembership.group_id == group.id)):
        group.scim_id = group.external_id = None
        group.updated_at = utcnow()
    else:
        db.session.delete(group)


def rename(group: Group, display_name: Any) -> None:
    """A new displayName; scope targets naming the group follow it. A scope that already named the new name (set up
    before the rename) now reaches the members: their devices are re-scoped then, else nobody's scope moves."""
    name = _name(display_name)
    if name == group.name:
        return
    if db.session.scalar(select(Group.id).where(Group.name == name, Group.id != group.id)):
        raise ScimProblem(409, f"a group named '{name}' already exists", "uniqueness")
    named = select(ScopeTarget.id).where(ScopeTarget.kind == "group", ScopeTarget.value == name).limit(1)
    awaited = db.session.scalar(named) is not None
    db.session.execute(update(ScopeTarget).where(ScopeTarget.kind == "group", ScopeTarget.value == group.name)
                       .values(value=name).execution_options(synchronize_session=False))
    group.name = name
    if awaited:
        db.session.flush()
        users_changed(db.session, db.session.scalars(select(GroupMembership.user_id)
                                                     .where(GroupMembership.group_id == group.id)))


def set_external_id(group: Group, external_id: Any) -> None:
    if external_id is not None and not isinstance(external_id, str):
        raise ScimProblem(400, "externalId must be a string", "invalidValue")
    one_line(external_id, "externalId", 255)
    if external_id and db.session.scalar(select(Group.id).where(Group.external_id == external_id,
                                                                Group.id != (group.id or 0))):
        raise ScimProblem(409, f"externalId '{external_id}' is already taken", "uniqueness")
    group.external_id = external_id


def _name(display_name: Any) -> str:
    if not isinstance(display_name, str) or not display_name.strip():
        raise ScimProblem(400, "displayName is required", "invalidValue")
    if len(display_name) > 255:
        raise ScimProblem(400, "displayName may be at most 255 characters", "invalidValue")
    return one_line(display_name.strip(), "displayName", 255)


def _values(members: Iterable[Any] | None) -> list[str]:
    return [str(member.value) for member in members or [] if member.value]


def resolve_members(values: Iterable[str], *, known_only: bool = False) -> set[int]:
    """The people these SCIM user ids name, in a query per 5,000; an unknown id is ``invalidValue``, or left out
    with ``known_only`` (a removal: a user deleted meanwhile is no member any more)."""
    wanted = sorted(set(values))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _USER_CHUNK):
        chunk = wanted[start:start + _USER_CHUNK]
        rows = db.session.execute(select(EndUser.scim_id, EndUser.id).where(EndUser.scim_id.in_(chunk)))
        found.update({scim_id: user_id for scim_id, user_id in rows})
    unknown = [value for value in wanted if value not in found]
    if unknown and not known_only:
        raise ScimProblem(400, f"no user with id {', '.join(repr(v) for v in unknown[:5])}"
                               f"{' and more' if len(unknown) > 5 else ''}", "invalidValue")
    return set(found.values())
