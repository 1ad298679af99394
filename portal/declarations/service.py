"""Changing the declaration library: create, edit, delete and scope a declaration, each with its audit
record, the reconciliation of the sets and a first batch of ``DeclarativeManagement`` commands, so the
API and the admin pages do the same thing.

Every function raises ``DeclarationRejected`` (nothing changed) or leaves the change in the session
for the caller to commit. Profiles a legacy-profile declaration wraps are reconciled too: a device
that gets the profile as a declaration does not also get it with InstallProfile.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import audit
from ..database.locks import Lock, hold
from ..models import Declaration
from ..models.base import utcnow
from ..profiles.delivery import deliver
from ..profiles.desired import reconcile as reconcile_profiles
from ..profiles.service import ScopeChange
from ..scope.resolve import change_counts
from ..scope.targets import Scope, ScopeError, load_scopes, save_scope, smart_group_criteria
from .desired import ITEM_TYPE, brought_along, declaration_changed, reconcile, references, scope_devices
from .library import DeclarationRejected, find_by_identifier, read_draft, refusal_message, store
from .reach import delivered_to_user_enrollments, user_enrollment_problems
from .sync import sync

def create_declaration(session: Session, document: Any, actor: str | None) -> Declaration:
    draft = read_draft(session, document)
    if find_by_identifier(session, draft.identifier) is not None:
        raise _identifier_taken(draft.identifier)
    declaration = Declaration()
    store(declaration, draft, actor)
    try:
        with session.begin_nested():
            session.add(declaration)
    except IntegrityError:
        if find_by_identifier(session, draft.identifier) is None:
            raise
        raise _identifier_taken(draft.identifier) from None  # saved by another request since the check above
    audit.record("declaration.created", target_type="declaration", target_id=declaration.id,
                 detail={"type": declaration.type, "identifier": declaration.identifier,
                         "server_token": declaration.server_token})
    return declaration


def _identifier_taken(identifier: str) -> DeclarationRejected:
    return DeclarationRejected(409, "identifier_exists", f"a declaration already has the identifier {identifier}")


def update_declaration(session: Session, declaration: Declaration, document: Any, actor: str | None) -> bool:
    """A new payload (same type and identifier); True when the content changed. Only then does its server
    token change, and each device that has it fetches it, and only it, again. Refused (422) when User
    Enrollment forbids it, or anything it now brings, while a scope reaching user-enrolled devices brings it."""
    hold(session, Lock.DESIRED_STATE)  # before the row is written: a reconciliation follows (portal.database.locks)
    draft = read_draft(session, document, existing=declaration)
    before = _wrapped_profiles(session, declaration)
    if not store(declaration, draft, actor):
        return False
    if delivered_to_user_enrollments(session, [declaration]):
        _refuse_if_forbidden(session, declaration)
    audit.record("declaration.updated", target_type="declaration", target_id=declaration.id,
                 detail={"identifier": declaration.identifier, "server_token": declaration.server_token})
    session.flush()
    declaration_changed(session, [declaration.id])
    _bring_in_line(session, before | _wrapped_profiles(session, declaration))
    return True


def delete_declaration(session: Session, declaration: Declaration, actor: str | None) -> None:
    """Take it out of every set; devices remove it at their next sync. Refused while another names it."""
    naming = [d.identifier for d in session.scalars(select(Declaration).where(Declaration.id != declaration.id))
              if declaration.identifier in (d.refers_to or ())]
    if naming:
        raise DeclarationRejected(409, "in_use", f"{', '.join(naming)[:300]} name(s) this declaration; change them first")
    profile_ids = _wrapped_profiles(session, declaration)
    declaration_changed(session, [declaration.id])
    save_scope(session, ITEM_TYPE, declaration.id, Scope())
    session.delete(declaration)
    audit.record("declaration.deleted", target_type="declaration", target_id=declaration.id,
                 detail={"identifier": declaration.identifier, "type": declaration.type})
    session.flush()
    _bring_in_line(session, profile_ids)


def _refuse_if_not_allowed(session: Session, declaration: Declaration, scope: Scope) -> None:
    try:
        criteria = smart_group_criteria(session, scope)
    except ScopeError as exc:
        raise DeclarationRejected(exc.status, "invalid_scope", str(exc)) from None
    if scope.reaches_user_enrollments(criteria):
        _refuse_if_forbidden(session, declaration)


def _refuse_if_forbidden(session: Session, declaration: Declaration) -> None:
    problems = user_enrollment_problems(session, [declaration])[declaration.id]
    if problems:
        raise DeclarationRejected(422, "not_allowed_for_scope", {"message": refusal_message(problems),
                                                                 "problems": problems})


def preview_scope(session: Session, declaration: Declaration, scope: Scope) -> ScopeChange:
    """How many devices ``scope`` would add and remove; DeclarationRejected (422) when User Enrollment does
    not allow the declaration, or anything it brings, and the scope reaches user-enrolled devices."""
    _refuse_if_not_allowed(session, declaration, scope)
    now = utcnow()
    stored = load_scopes(session, ITEM_TYPE, [declaration.id]).get(declaration.id, Scope())
    added, removed = change_counts(session, scope_devices(session, stored, now), scope_devices(session, scope, now))
    return ScopeChange(added, removed)


def set_scope(session: Session, declaration: Declaration, scope: Scope) -> ScopeChange:
    """Save ``scope`` and bring every set in line: a constant number of statements, then one batch of commands."""
    hold(session, Lock.DESIRED_STATE)  # first: a reconciliation follows its writes (portal.database.locks)
    change = preview_scope(session, declaration, scope)
    save_scope(session, ITEM_TYPE, declaration.id, scope)
    audit.record("declaration.scope_changed", target_type="declaration", target_id=declaration.id,
                 detail={"scope": scope.to_json(), "devices_added": change.devices_added,
                         "devices_removed": change.devices_removed})
    _bring_in_line(session, _wrapped_profiles(session, declaration))
    return change


def _wrapped_profiles(session: Session, declaration: Declaration) -> set[int]:
    """The profiles of the legacy-profile declarations ``declaration`` is or brings along (an activation naming
    one): a change of its reach moves them between the command path and the declarations path."""
    if declaration.profile_id is not None and not declaration.refers_to:
        return {declaration.profile_id}
    ids, refers = references(session)
    brought = [ids[identifier] for identifier in brought_along(refers, declaration.identifier) if identifier in ids]
    return set(session.scalars(select(Declaration.profile_id).where(Declaration.id.in_(brought),
                                                                    Declaration.profile_id.isnot(None))))


def _bring_in_line(session: Session, profile_ids: set[int]) -> None:
    reconcile(session)
    sync(session)
    wrapped = sorted(profile_ids)
    if wrapped:
        reconcile_profiles(session, profile_ids=wrapped)
        deliver(session, profile_ids=wrapped)
