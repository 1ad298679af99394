"""Licenses follow people: one license of an App Store app per person with a device that should have
it (a person with two phones uses one), released when none of their devices should any more.

``reconcile_licenses`` derives, set-based, from ``app_states`` and from the other ways an app reaches a
device (``register_license_source``: the managed-app declarations naming an App Store app, which DDM
installs with the same person's license): the people to register with the service (``app_users``, each with a random
``clientUserId`` kept for good, never their e-mail), the licenses to associate and those to release, and
which device rows wait for a license. The service calls themselves run in the worker
(``portal.apps.sync``); these rows are their queue.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import ColumnElement, Select, delete, exists, func, literal, select, true, union, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..database.locks import Lock, hold
from ..models import App, AppLicense, AppState, AppUser, Device, EndUser
from ..models.app import AppStatus, LicenseStatus
from ..models.base import utcnow
from ..models.profile import INSTALL

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_licenses = AppLicense.__table__
_states = AppState.__table__
_HELD = (LicenseStatus.ASSOCIATED, LicenseStatus.ASSOCIATING)


#: ``(session, now) -> SELECT (app_id, device_id)`` or None: devices that need an App Store app's license
#: beside their install rows, from the parts that install apps another way (they import this module).
_SOURCES: list[Callable[[Session, datetime], Select | None]] = []


def register_license_source(source: Callable[[Session, datetime], Select | None]):
    """Count the devices ``source`` selects among those needing their person's license."""
    _SOURCES.append(source)
    return source


def _needing(session: Session, now: datetime) -> Select:
    """``(app_id, device_id)`` of every device that should have an App Store app: its install rows, and
    what the registered sources select."""
    rows = (select(AppState.app_id, AppState.device_id).join(App, App.id == AppState.app_id)
            .where(AppState.operation == INSTALL, App.source == "vpp", App.deleted_at.is_(None)))
    others = [selected for source in _SOURCES if (selected := source(session, now)) is not None]
    return union(rows, *others) if others else rows


def reconcile_licenses(session: Session, now: datetime | None = None) -> None:
    """Register the people, want and release the licenses, and mark the device rows that wait for
    one; a constant number of statements plus one insert of new people. The caller commits."""
    now = now or utcnow()
    hold(session, Lock.DESIRED_STATE)  # it reads the scopes (a source's) and writes from them: portal.database.locks
    needing = _needing(session, now).cte("needing")
    missing = session.scalars(
        select(Device.managed_apple_id).distinct().join(needing, needing.c.device_id == Device.id)
        .where(Device.managed_apple_id.isnot(None),
               ~exists().where(AppUser.managed_apple_id == Device.managed_apple_id))).all()
    insert = _INSERTS[session.get_bind().dialect.name]
    if missing:
        session.execute(insert(AppUser.__table__).on_conflict_do_nothing(), [
            {"managed_apple_id": mid, "client_user_id": str(uuid.uuid4()), "status": "pending", "created_at": now,
             "updated_at": now} for mid in missing])
    wanted = (select(needing.c.app_id, AppUser.id.label("app_user_id")).distinct()
              .join(Device, Device.id == needing.c.device_id)
              .join(AppUser, AppUser.managed_apple_id == Device.managed_apple_id)).cte("wanted")
    session.execute(insert(_licenses).from_select(
        ["app_id", "app_user_id", "status", "updated_at"],
        select(wanted.c.app_id, wanted.c.app_user_id, literal(LicenseStatus.WANTED),
               literal(now, AppLicense.updated_at.type)).where(true())).on_conflict_do_nothing())  # SQLite: WHERE before ON
    still = exists().where(wanted.c.app_id == _licenses.c.app_id, wanted.c.app_user_id == _licenses.c.app_user_id)
    session.execute(delete(_licenses).where(
        _licenses.c.status.in_((LicenseStatus.WANTED, LicenseStatus.NO_LICENSE)), ~still))
    session.execute(update(_licenses).where(_licenses.c.status == LicenseStatus.ASSOCIATED, ~still)
                    .values(status=LicenseStatus.RELEASING, updated_at=now))
    session.execute(update(_licenses).where(_licenses.c.status == LicenseStatus.RELEASING, still)
                    .values(status=LicenseStatus.ASSOCIATED, updated_at=now))
    mark_waiting(session, now)


def _license_of_device(status_condition) -> exists:
    """EXISTS a license of the row's app, for the row's device's person, matching ``status_condition``."""
    return (exists().select_from(_licenses.join(AppUser.__table__, AppUser.id == _licenses.c.app_user_id)
                                 .join(Device.__table__, Device.managed_apple_id == AppUser.managed_apple_id))
            .where(_licenses.c.app_id == _states.c.app_id, Device.id == _states.c.device_id, status_condition))


def mark_waiting(session: Session, now: datetime) -> None:
    """Install rows whose person has no license left wait as ``no_license``; back to pending once they have one."""
    session.execute(update(_states).where(
        _states.c.operation == INSTALL, _states.c.status == AppStatus.PENDING, _states.c.last_command_uuid.is_(None),
        _license_of_device(_licenses.c.status == LicenseStatus.NO_LICENSE)).values(status=AppStatus.NO_LICENSE,
                                                                                    updated_at=now))
    session.execute(update(_states).where(
        _states.c.status == AppStatus.NO_LICENSE,
        ~_license_of_device(_licenses.c.status == LicenseStatus.NO_LICENSE)).values(status=AppStatus.PENDING,
                                                                                     updated_at=now))


def licensed():
    """The condition delivery adds for App Store apps: the device's person holds the app's license."""
    return _license_of_device(_licenses.c.status == LicenseStatus.ASSOCIATED)


def holds_license(app_id: int) -> ColumnElement[bool]:
    """A condition on ``devices``: the device's person holds ``app_id``'s license (a managed-app declaration
    naming an App Store app joins a device's set only then, as an install is sent only then)."""
    return exists().where(_licenses.c.app_id == app_id, _licenses.c.status == LicenseStatus.ASSOCIATED,
                          AppUser.id == _licenses.c.app_user_id, AppUser.managed_apple_id == Device.managed_apple_id)


def licenses_needed(session: Session, app_ids: list[int]) -> dict[int, int]:
    """Per app, how many more licenses the people waiting for one need."""
    rows = session.execute(select(AppLicense.app_id, func.count()).where(
        AppLicense.app_id.in_(app_ids), AppLicense.status == LicenseStatus.NO_LICENSE).group_by(AppLicense.app_id))
    return {app_id: 0 for app_id in app_ids} | dict(rows.all())


def release_person(session: Session, user_id: int) -> int:
    """A person left: every license they hold is released (the worker disassociates them) and their
    devices' apps are removed, whatever the scopes still say; returns how many licenses. The directory
    sync calls it at offboarding, where the person's enrollments end too (a device still enrolled and
    in scope would ask for the app again at the next reconciliation). The caller commits."""
    managed_apple_id = session.scalar(select(EndUser.managed_apple_id).where(EndUser.id == user_id))
    if managed_apple_id is None:
        return 0
    person = select(AppUser.id).where(AppUser.managed_apple_id == managed_apple_id).scalar_subquery()
    now = utcnow()
    session.execute(delete(_licenses).where(
        _licenses.c.app_user_id == person, _licenses.c.status.in_((LicenseStatus.WANTED, LicenseStatus.NO_LICENSE))))
    released = session.execute(update(_licenses).where(
        _licenses.c.app_user_id == person, _licenses.c.status.in_((LicenseStatus.ASSOCIATED, LicenseStatus.ASSOCIATING)))
        .values(status=LicenseStatus.RELEASING, updated_at=now)).rowcount
    session.execute(update(_states).where(
        _states.c.operation == INSTALL, _states.c.device_id.in_(
            select(Device.id).where(Device.managed_apple_id == managed_apple_id)))
        .values(operation="remove", status=AppStatus.REMOVING, updated_at=now, last_command_uuid=None, attempts=0,
                next_attempt_at=None, error=None, error_chain=None))
    return released
