"""Reconciliation: bring ``profile_states`` in line with every profile's scope, set-based.

The scopes of the profiles concerned become one ``UNION ALL`` of ``(device, profile)`` pairs
(``portal.scope.resolve``), and four statements do the rest whatever the number of devices:
new pairs get a pending install, pairs back in scope are installed again, rows out of scope are
removed (with a RemoveProfile only where the profile may be on the device), and rows of an edited
profile are installed once more (same PayloadIdentifier: the phone replaces it). ``device_ids``
narrows all of it to some devices (an enrollment, a sign-in), ``profile_ids`` to some profiles.
"""
from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import CTE, ColumnElement, Integer, Select, and_, case, delete, exists, literal, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..inventory.sweep import stale_after
from ..models import Declaration, DeclarationAssignment, Device, Profile, ProfileState
from ..models.base import utcnow
from ..models.profile import INSTALL, REMOVE, ProfileStatus
from ..scope.resolve import devices_in
from ..scope.targets import Scope, load_scopes, smart_group_criteria

ITEM_TYPE = "profile"
_states = ProfileState.__table__
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_RESET = {"last_command_uuid": None, "attempts": 0, "next_attempt_at": None, "error": None, "error_chain": None}


def enrollment_types(profile: Profile) -> tuple[str, ...]:
    """The enrollment types a profile may reach at all: those its checker verdict has no error for."""
    return tuple(kind for kind, valid in (("user", profile.valid_for_user), ("device", profile.valid_for_device))
                 if valid)


def scope_devices(session: Session, profile: Profile, scope: Scope, now: datetime) -> Select:
    """SELECT the ids of the devices ``scope`` gives ``profile``."""
    return devices_in(scope, smart_group_criteria(session, scope), stale_after=stale_after(), now=now,
                      enrollment_types=enrollment_types(profile))


def _pairs(session: Session, profile_ids: Collection[int] | None, device_ids: Select | Collection[int] | None,
           now: datetime) -> CTE | None:
    """The ``(device_id, profile_id)`` pairs in scope, over the live profiles concerned; None when there are none."""
    profiles = select(Profile).where(Profile.deleted_at.is_(None))
    if profile_ids is not None:
        profiles = profiles.where(Profile.id.in_(profile_ids))
    live = list(session.scalars(profiles))
    scopes = load_scopes(session, ITEM_TYPE, [profile.id for profile in live])
    branches = []
    for profile in live:
        scope = scopes.get(profile.id)
        if scope is None or scope.empty:
            continue
        branch = scope_devices(session, profile, scope, now).where(Device.id.not_in(as_declaration(profile.id)))
        if device_ids is not None:
            branch = branch.where(branch.selected_columns[0].in_(device_ids))
        branches.append(branch.add_columns(literal(profile.id, Integer).label("profile_id")))
    if not branches:
        return None
    return (union_all(*branches) if len(branches) > 1 else branches[0]).cte("in_scope")


def as_declaration(profile_id: int) -> Select:
    """SELECT the devices that get the profile as a legacy-profile declaration (never also by InstallProfile)."""
    return (select(DeclarationAssignment.device_id)
            .join(Declaration, Declaration.id == DeclarationAssignment.declaration_id)
            .where(Declaration.profile_id == profile_id))


def reconcile(session: Session, *, profile_ids: Collection[int] | None = None,
              device_ids: Select | Collection[int] | None = None, now: datetime | None = None) -> None:
    """Rewrite the desired state of the profiles (all, or ``profile_ids``) on the devices (all, or
    ``device_ids``) from their scopes; a constant number of statements. The caller commits."""
    now = now or utcnow()
    pairs = _pairs(session, profile_ids, device_ids, now)
    concerned = [c for c in (_states.c.profile_id.in_(profile_ids) if profile_ids is not None else None,
                             _states.c.device_id.in_(device_ids) if device_ids is not None else None) if c is not None]
    if pairs is not None:
        in_scope = exists().where(pairs.c.profile_id == _states.c.profile_id, pairs.c.id == _states.c.device_id)
        known = select(_states.c.device_id).where(_states.c.profile_id == pairs.c.profile_id,
                                                  _states.c.device_id == pairs.c.id)
        # a reconciliation running at the same time (another node, an enrollment) may insert a pair first
        insert = _INSERTS[session.get_bind().dialect.name](_states)
        session.execute(insert.from_select(
            ["device_id", "profile_id", "operation", "status", "attempts", "updated_at"],
            select(pairs.c.id, pairs.c.profile_id, literal(INSTALL), literal(ProfileStatus.PENDING), literal(0),
                   literal(now, ProfileState.updated_at.type)).where(~exists(known))).on_conflict_do_nothing())
        session.execute(update(_states).where(_states.c.operation == REMOVE, in_scope, *concerned)
                        .values(operation=INSTALL, status=ProfileStatus.PENDING, updated_at=now, **_RESET))
    out_of_scope = [_states.c.operation == INSTALL, *concerned]
    if pairs is not None:
        out_of_scope.append(~in_scope)
    session.execute(update(_states).where(*out_of_scope).values(
        operation=REMOVE, status=case((_may_be_installed(), ProfileStatus.REMOVING), else_=ProfileStatus.REMOVED),
        updated_at=now, **_RESET))
    current = select(Profile.revision).where(Profile.id == _states.c.profile_id).scalar_subquery()
    session.execute(update(_states).where(_states.c.operation == INSTALL, _states.c.revision.isnot(None),
                                          _states.c.revision != current, *concerned)
                    .values(status=ProfileStatus.PENDING, updated_at=now, **_RESET))


def _may_be_installed() -> ColumnElement:
    """Installed, or an install command went out: a RemoveProfile is needed to be sure it is gone."""
    return (_states.c.status == ProfileStatus.INSTALLED) | and_(_states.c.status == ProfileStatus.PENDING,
                                                                _states.c.last_command_uuid.isnot(None))


def forget_device(session: Session, device_id: int) -> None:
    """An enrollment ended: the phone removed what MDM installed with it, so its rows go. The caller commits."""
    session.execute(delete(ProfileState).where(ProfileState.device_id == device_id))
