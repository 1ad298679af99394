"""Reconciliation: bring ``profile_states`` in line with every profile's scope, set-based.

The scopes of the profiles concerned become one ``UNION ALL`` of ``(device, profile)`` pairs
(``portal.scope.resolve``), and four statements do the rest whatever the number of devices (the
first three shared with every kind, ``portal.scope.rows``): new pairs get a pending install, pairs
back in scope are installed again, rows out of scope are removed (with a RemoveProfile only where
the profile may be on the device), and rows of an edited profile are installed once more (same
PayloadIdentifier: the phone replaces it), as are those filled in with a person's value that changed. Devices that get a profile as a legacy-profile
declaration are left out. ``device_ids`` narrows all of it to some devices (an enrollment, a
sign-in), ``profile_ids`` to some profiles.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CTE, ColumnElement, Select, and_, delete, select, update
from sqlalchemy.orm import Session

from ..database.locks import Lock, hold
from ..inventory.sweep import stale_after
from ..models import Declaration, DeclarationAssignment, Device, Profile, ProfileState
from ..models.base import utcnow
from ..models.profile import INSTALL, ProfileStatus
from ..person_values import refilled
from ..scope.resolve import devices_in
from ..scope.rows import RESET, Rows, scope_pairs
from ..scope.targets import Scope, load_scopes, smart_group_criteria

ITEM_TYPE = "profile"
_states = ProfileState.__table__
_ROWS = Rows(_states, "profile_id")


def enrollment_types(profile: Profile) -> tuple[str, ...]:
    """The enrollment types a profile may reach at all: those its checker verdict has no error for."""
    return tuple(kind for kind, valid in (("user", profile.valid_for_user), ("device", profile.valid_for_device))
                 if valid)


def scope_devices(session: Session, profile: Profile, scope: Scope, now: datetime) -> Select:
    """SELECT the ids of the devices ``scope`` gives ``profile``."""
    return _scope_devices(profile, scope, now, smart_group_criteria(session, scope), stale_after())


def _scope_devices(profile: Profile, scope: Scope, now: datetime, criteria: Mapping[int, Mapping[str, Any]],
                   stale: timedelta) -> Select:
    return devices_in(scope, criteria, stale_after=stale, now=now, enrollment_types=enrollment_types(profile))


def _pairs(session: Session, profile_ids: Collection[int] | None, device_ids: Select | Collection[int] | None,
           now: datetime) -> CTE | None:
    """The ``(device_id, profile_id)`` pairs in scope, over the live profiles concerned; None when there are none."""
    profiles = select(Profile).where(Profile.deleted_at.is_(None))
    if profile_ids is not None:
        profiles = profiles.where(Profile.id.in_(profile_ids))
    live = list(session.scalars(profiles))
    scopes = load_scopes(session, ITEM_TYPE, [profile.id for profile in live])
    # read once for all the profiles: a query each would grow with the library
    criteria, stale = smart_group_criteria(session, *scopes.values()), stale_after()
    return scope_pairs(((profile.id, _scope_devices(profile, scopes[profile.id], now, criteria, stale)
                         .where(Device.id.not_in(as_declaration(profile.id))))
                        for profile in live if profile.id in scopes and not scopes[profile.id].empty),
                       device_ids, "profile_id")


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
    hold(session, Lock.DESIRED_STATE)  # before the scopes are read (portal.database.locks)
    concerned = _ROWS.concerned(profile_ids, device_ids)
    _ROWS.move(session, _pairs(session, profile_ids, device_ids, now), concerned, now, _may_be_installed())
    current = select(Profile.revision).where(Profile.id == _states.c.profile_id).scalar_subquery()
    session.execute(update(_states).where(_states.c.operation == INSTALL, _states.c.revision.isnot(None),
                                          _states.c.revision != current, *concerned)
                    .values(status=ProfileStatus.PENDING, updated_at=now, **RESET))


def _may_be_installed() -> ColumnElement:
    """Installed, or an install command went out: a RemoveProfile is needed to be sure it is gone."""
    return (_states.c.status == ProfileStatus.INSTALLED) | and_(_states.c.status == ProfileStatus.PENDING,
                                                                _states.c.last_command_uuid.isnot(None))


def values_changed(session: Session, device_ids: Select | Collection[int], now: datetime | None = None) -> None:
    """These devices' people's values (name, e-mail, Managed Apple ID) changed: each profile sent filled in with a
    value that changed is installed again (the phone replaces it), as is each one waiting to be sent
    (``Rows.last_filled``); one whose values did not change is left alone. The caller commits."""
    hold(session, Lock.DESIRED_STATE)
    rows = session.execute(select(_states.c.device_id, _states.c.profile_id, _ROWS.last_filled(), Profile.variables)
                           .join(Profile, Profile.id == _states.c.profile_id)
                           .where(_states.c.operation == INSTALL, Profile.variables != "",
                                  _states.c.device_id.in_(device_ids))).all()
    _ROWS.install_again(session, refilled(session, rows), now or utcnow())


def forget_device(session: Session, device_id: int) -> None:
    """An enrollment ended: the phone removed what MDM installed with it, so its rows go. The caller commits."""
    hold(session, Lock.DESIRED_STATE)
    session.execute(delete(ProfileState).where(ProfileState.device_id == device_id))
