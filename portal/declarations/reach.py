"""What a declaration brings to user-enrolled devices, and whether User Enrollment allows all of it.

A device's set holds a scoped declaration and everything it names, directly or through another
(``desired.brought_along``: an activation's configurations and their assets), and a legacy-profile
configuration carries its library profile. User Enrollment must allow all of it: else an activation
scoped to user-enrolled devices would bring them a configuration it forbids, or a legacy declaration a
profile it forbids. So a scope reaching them is refused for anything the declaration brings, and so is
an edit (of a declaration, or of a profile a legacy one wraps) while a scope reaching them brings it
(``delivered_to_user_enrollments``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from mdm_core.ddm.declarations import validate

from ..models import Declaration, Profile
from ..profiles.library import problem_place
from ..scope.targets import load_scopes, smart_group_criteria
from .desired import ITEM_TYPE, brought_along, references


def profile_problems(profile: Profile) -> list[dict[str, Any]]:
    """The errors that keep a live library profile from user-enrolled devices, each naming the profile."""
    if profile.deleted_at is not None or profile.valid_for_user:
        return []
    return [{**p, "key": f"profile {profile.identifier}: {problem_place(p)}"}
            for p in profile.problems if p.get("severity") == "error"]


def _own_problems(declaration: Declaration, profile: Profile | None) -> list[dict[str, Any]]:
    problems = [p.to_dict() for p in validate(declaration.type, declaration.payload, user_enrollment=True,
                                              identifier=declaration.identifier) if p.severity == "error"]
    return problems + (profile_problems(profile) if profile is not None else [])


def user_enrollment_problems(session: Session, declarations: Sequence[Declaration]) -> dict[int, list[dict[str, Any]]]:
    """Per declaration (by id), the errors that keep it or anything it brings from user-enrolled devices; empty
    when all of it may go to them. A problem of a declaration it brings names that one (``declaration``). The
    library's references are read once, and the declarations brought once, for all of them."""
    _, refers = references(session)
    refers.update((d.identifier, tuple(d.refers_to or ())) for d in declarations)
    members = {identifier for d in declarations for identifier in brought_along(refers, d.identifier)}
    library = {d.identifier: d for d in session.scalars(
        select(Declaration).where(Declaration.identifier.in_(members - {d.identifier for d in declarations}))
        .options(load_only(Declaration.identifier, Declaration.type, Declaration.payload, Declaration.profile_id)))}
    library.update((d.identifier, d) for d in declarations)
    profile_ids = {d.profile_id for d in library.values() if d.profile_id is not None}
    profiles = {p.id: p for p in session.scalars(select(Profile).where(Profile.id.in_(profile_ids)))} if profile_ids else {}
    own: dict[str, list[dict[str, Any]]] = {}
    found: dict[int, list[dict[str, Any]]] = {}
    for declaration in declarations:
        problems: list[dict[str, Any]] = []
        for identifier in brought_along(refers, declaration.identifier):
            member = library.get(identifier)
            if member is None:
                continue
            if identifier not in own:
                own[identifier] = _own_problems(member, profiles.get(member.profile_id))
            problems += (own[identifier] if member is declaration
                         else [{**p, "declaration": identifier} for p in own[identifier]])
        found[declaration.id] = problems
    return found


def delivered_to_user_enrollments(session: Session, declarations: Sequence[Declaration]) -> set[str]:
    """The identifiers of ``declarations`` that a scope able to reach user-enrolled devices brings: its own, or
    the scope of a declaration that names it, directly or through another."""
    ids, refers = references(session)
    brought = {root: set(brought_along(refers, identifier)) for identifier, root in ids.items()}
    scopes = load_scopes(session, ITEM_TYPE, list(brought))
    criteria = smart_group_criteria(session, *scopes.values())
    reaching = [root for root, scope in scopes.items() if scope.reaches_user_enrollments(criteria)]
    wanted = {d.identifier for d in declarations}
    return {identifier for root in reaching for identifier in brought[root] & wanted}
