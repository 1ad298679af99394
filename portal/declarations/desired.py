"""Each device's declaration set, rewritten from scope with set-based SQL.

Only user-enrolled devices on iOS 15 or later are managed declaratively (``ddm_capable``); each gets a
``ddm_enrollments`` row the first time a reconciliation sees it (which is what turns DDM on: ``sync``
then sends its first ``DeclarativeManagement`` command). The scopes of all declarations become one
``UNION`` of ``(device, declaration)`` pairs (a declaration that names others brings them along: a
configuration its assets, an activation its configurations and theirs: ``brought_along``), and a constant number of statements do
the rest whatever the number of devices: devices whose set gains or loses a row are marked ``stale``,
then the rows follow the pairs. ``device_ids`` narrows it all to some devices. A managed-app declaration
naming an App Store app reaches a device once its person holds the license (``portal.declarations.apps``).
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime

from sqlalchemy import CTE, ColumnElement, Integer, Select, and_, delete, exists, literal, or_, select, union, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mdm_core.ddm.tables import declaration_spec

from ..apps.licenses import holds_license
from ..database.locks import Lock, hold
from ..inventory.sweep import stale_after
from ..models import DdmEnrollment, Declaration, DeclarationAssignment, DeclarationStatus, Device, Profile
from ..models.base import utcnow
from ..scope.resolve import ACTIVE_STATUSES, devices_in
from ..scope.targets import Scope, load_scopes, smart_group_criteria
from ..scope.versions import os_version_key, version_key
from .apps import store_apps

ITEM_TYPE = "declaration"
#: Declarative management on a user-enrolled device needs iOS 15.
FIRST_OS = "15.0"
_assignments = DeclarationAssignment.__table__
_enrollments = DdmEnrollment.__table__
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def ddm_capable() -> ColumnElement[bool]:
    """A condition on ``devices``: the device is managed declaratively (older ones keep the command path)."""
    return and_(Device.enrollment_type == "user", Device.status.in_(ACTIVE_STATUSES),
                os_version_key(Device.os_version) >= version_key(FIRST_OS))


def scope_devices(session: Session, scope: Scope, now: datetime) -> Select:
    """SELECT the ids of the DDM devices ``scope`` reaches."""
    return devices_in(scope, smart_group_criteria(session, scope), stale_after=stale_after(), now=now,
                      enrollment_types=("user",)).where(ddm_capable())


def _allowed_type(declaration_type: str) -> bool:
    spec = declaration_spec(declaration_type)
    return spec is not None and spec.user_enrollment


def brought_along(refers: Mapping[str, Iterable[str]], identifier: str) -> list[str]:
    """``identifier`` and every identifier it names, directly or through another (an activation's configurations
    and their assets), each once, ``identifier`` first; ``refers`` maps an identifier to those it names."""
    found, seen = [identifier], {identifier}
    for current in found:  # grows as it goes: breadth first
        for named in refers.get(current, ()):
            if named not in seen:
                seen.add(named)
                found.append(named)
    return found


def references(session: Session) -> tuple[dict[str, int], dict[str, tuple[str, ...]]]:
    """Every declaration's id by identifier, and the identifiers each names: what ``brought_along`` walks."""
    rows = session.execute(select(Declaration.id, Declaration.identifier, Declaration.refers_to)).all()
    return ({identifier: declaration_id for declaration_id, identifier, _ in rows},
            {identifier: tuple(refers_to or ()) for _, identifier, refers_to in rows})


def _pairs(session: Session, device_ids: Select | Collection[int] | None, now: datetime) -> CTE | None:
    """The ``(device id, declaration id)`` pairs of every scope; None when no declaration is scoped. A
    legacy-profile declaration whose profile was deleted reaches no device (the profile is removed everywhere),
    and neither does one User Enrollment forbids (its type, or the profile it wraps), however it is brought:
    the library refuses such a scope (``reach``), and this keeps a set written before it did free of one."""
    rows = session.execute(select(Declaration.id, Declaration.identifier, Declaration.refers_to, Declaration.type,
                                  Profile.valid_for_user)
                           .outerjoin(Profile, Profile.id == Declaration.profile_id)
                           .where(Profile.deleted_at.is_(None))).all()
    ids = {identifier: declaration_id for declaration_id, identifier, _, kind_type, profile_allowed in rows
           if _allowed_type(kind_type) and profile_allowed is not False}
    refers = {identifier: refers_to or () for _, identifier, refers_to, _, _ in rows if identifier in ids}
    scopes = load_scopes(session, ITEM_TYPE)
    licensed = store_apps(session)
    branches = []
    for declaration_id, identifier, _, _, _ in rows:
        scope = scopes.get(declaration_id)
        if scope is None or scope.empty:
            continue
        for member in (ids[i] for i in brought_along(refers, identifier) if i in ids):
            branch = scope_devices(session, scope, now)
            if member in licensed:  # an App Store app, brought by whichever declaration, waits for its license
                branch = branch.where(holds_license(licensed[member]))
            if device_ids is not None:
                branch = branch.where(Device.id.in_(device_ids))
            branches.append(branch.add_columns(literal(member, Integer).label("declaration_id")))
    if not branches:
        return None
    return (union(*branches) if len(branches) > 1 else branches[0]).cte("in_scope")


def reconcile(session: Session, *, device_ids: Select | Collection[int] | None = None,
              now: datetime | None = None) -> None:
    """Rewrite the declaration sets of the devices (all, or ``device_ids``) from every scope; a constant
    number of statements, under the desired state's lock (``portal.database.locks``). The caller commits."""
    now = now or utcnow()
    hold(session, Lock.DESIRED_STATE)
    enroll(session, device_ids, now)
    pairs = _pairs(session, device_ids, now)
    concerned = [_assignments.c.device_id.in_(device_ids)] if device_ids is not None else []
    gone = [*concerned]
    if pairs is not None:
        gone.append(~exists().where(pairs.c.id == _assignments.c.device_id,
                                    pairs.c.declaration_id == _assignments.c.declaration_id))
        new = select(pairs.c.id).where(~exists().where(_assignments.c.device_id == pairs.c.id,
                                                       _assignments.c.declaration_id == pairs.c.declaration_id))
        changed = or_(_enrollments.c.device_id.in_(select(_assignments.c.device_id).where(*gone)),
                      _enrollments.c.device_id.in_(new))
    else:
        changed = _enrollments.c.device_id.in_(select(_assignments.c.device_id).where(*gone))
    session.execute(update(_enrollments).where(changed).values(stale=True))
    session.execute(delete(_assignments).where(*gone))
    if pairs is not None:
        insert = _INSERTS[session.get_bind().dialect.name](_assignments)
        session.execute(insert.from_select(["device_id", "declaration_id"], select(pairs.c.id, pairs.c.declaration_id)
                                           .where(~exists().where(_assignments.c.device_id == pairs.c.id,
                                                                  _assignments.c.declaration_id == pairs.c.declaration_id)))
                        .on_conflict_do_nothing())


def enroll(session: Session, device_ids: Select | Collection[int] | None, now: datetime) -> None:
    """Give every DDM device (of ``device_ids``) without one its ``ddm_enrollments`` row: DDM turns on."""
    capable = select(Device.id, literal(True), literal(now, DdmEnrollment.enabled_at.type)).where(
        ddm_capable(), ~exists().where(_enrollments.c.device_id == Device.id))
    if device_ids is not None:
        capable = capable.where(Device.id.in_(device_ids))
    insert = _INSERTS[session.get_bind().dialect.name](_enrollments)
    session.execute(insert.from_select(["device_id", "stale", "enabled_at"], capable).on_conflict_do_nothing())


def declaration_changed(session: Session, declaration_ids: Collection[int]) -> None:
    """These declarations' content changed: every device that has one needs a new token (one statement). The
    caller commits."""
    hold(session, Lock.DESIRED_STATE)  # before its write: a reconciliation follows in the same transaction
    session.execute(update(_enrollments).where(_enrollments.c.device_id.in_(
        select(_assignments.c.device_id).where(_assignments.c.declaration_id.in_(list(declaration_ids)))))
        .values(stale=True))


def forget_device(session: Session, device_id: int) -> None:
    """An enrollment ended: the phone dropped its declarations with it. The caller commits."""
    hold(session, Lock.DESIRED_STATE)  # a reconciliation that read the device as enrolled writes it no row after
    for table in (DeclarationAssignment, DeclarationStatus, DdmEnrollment):
        session.execute(delete(table).where(table.device_id == device_id))


def values_changed(session: Session, device_ids: Select) -> None:
    """These devices' people's values (name, e-mail, Managed Apple ID) changed: a device holding a declaration
    filled in with them is marked stale, so its answers are recomputed (a declaration's server token moves only if a
value it uses did: ``sets.device_token``; a device whose DeclarationsToken stays is sent nothing). The caller commits."""
    hold(session, Lock.DESIRED_STATE)
    filled = (select(_assignments.c.device_id).join(Declaration, Declaration.id == _assignments.c.declaration_id)
              .where(Declaration.variables != "", _assignments.c.device_id.in_(device_ids)))
    session.execute(update(_enrollments).where(_enrollments.c.device_id.in_(filled)).values(stale=True))
