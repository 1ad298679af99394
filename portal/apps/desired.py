"""Reconciliation: bring ``app_states`` in line with every app's scope, set-based, as
``portal.profiles.desired`` does for profiles (the same scope resolution, the same four moves: new
pairs get a pending install, pairs back in scope install again, rows out of scope are removed, and
rows whose app configuration changed, or a person's value it is filled in with, are sent the new one). The licenses follow the device rows
(``portal.apps.licenses``).
"""
from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import CTE, ColumnElement, Select, and_, delete, select, update
from sqlalchemy.orm import Session

from ..database.locks import Lock, hold
from ..inventory.sweep import stale_after
from ..models import App, AppState
from ..models.base import utcnow
from ..models.app import AppStatus
from ..person_values import refilled
from ..scope.resolve import devices_in
from ..scope.rows import INSTALL, RESET, Rows, scope_pairs
from ..scope.targets import Scope, load_scopes, smart_group_criteria
from .configuration import load, variables_of

ITEM_TYPE = "app"
_states = AppState.__table__
_ROWS = Rows(_states, "app_id", unconfirmed=AppStatus.INSTALLING)


def scope_devices(session: Session, scope: Scope, now: datetime) -> Select:
    """SELECT the ids of the devices ``scope`` gives an app (apps may reach every enrollment type)."""
    return devices_in(scope, smart_group_criteria(session, scope), stale_after=stale_after(), now=now)


def _pairs(session: Session, app_ids: Collection[int] | None, device_ids: Select | Collection[int] | None,
           now: datetime) -> CTE | None:
    apps = select(App.id).where(App.deleted_at.is_(None))
    if app_ids is not None:
        apps = apps.where(App.id.in_(app_ids))
    live = list(session.scalars(apps))
    scopes = load_scopes(session, ITEM_TYPE, live)
    return scope_pairs(((app_id, scope_devices(session, scopes[app_id], now)) for app_id in live
                        if app_id in scopes and not scopes[app_id].empty), device_ids, "app_id")


def reconcile(session: Session, *, app_ids: Collection[int] | None = None,
              device_ids: Select | Collection[int] | None = None, now: datetime | None = None) -> None:
    """Rewrite the desired state of the apps (all, or ``app_ids``) on the devices (all, or ``device_ids``)
    from their scopes; a constant number of statements. The caller commits."""
    now = now or utcnow()
    hold(session, Lock.DESIRED_STATE)  # before the scopes are read (portal.database.locks)
    concerned = _ROWS.concerned(app_ids, device_ids)
    _ROWS.move(session, _pairs(session, app_ids, device_ids, now), concerned, now, _may_be_installed())
    current = select(App.configuration_revision).where(App.id == _states.c.app_id).scalar_subquery()
    session.execute(update(_states).where(
        _states.c.operation == INSTALL, _states.c.status.in_((AppStatus.INSTALLED, AppStatus.INSTALLING)),
        _states.c.identifier.isnot(None), _states.c.configuration_revision.is_distinct_from(current), *concerned)
        .values(status=_ROWS.sent_again(), updated_at=now, **RESET))


def _may_be_installed() -> ColumnElement:
    """Installed, or an install command went out: a RemoveApplication is needed to be sure it is gone."""
    return (_states.c.status.in_((AppStatus.INSTALLED, AppStatus.INSTALLING))
            | and_(_states.c.status == AppStatus.PENDING, _states.c.last_command_uuid.isnot(None))
            | _states.c.identifier.isnot(None))


def values_changed(session: Session, device_ids: Select | Collection[int], now: datetime | None = None) -> None:
    """These devices' people's values changed: each app configuration sent (or queued) filled in with a value that
    changed is sent again, as is each one waiting to be sent (``Rows.last_filled``); one whose values did not change
    is left alone. The caller commits."""
    hold(session, Lock.DESIRED_STATE)
    rows = session.execute(select(_states.c.device_id, _states.c.app_id, _ROWS.last_filled())
                           .join(App, App.id == _states.c.app_id)
                           .where(_states.c.operation == INSTALL, App.configuration.isnot(None),
                                  _states.c.device_id.in_(device_ids))).all()
    names = {app.id: variables_of(load(app.configuration))
             for app in session.scalars(select(App).where(App.id.in_({row[1] for row in rows})))} if rows else {}
    _ROWS.install_again(session, refilled(session, [(*row, names[row[1]]) for row in rows if names[row[1]]]),
                        now or utcnow())


def forget_device(session: Session, device_id: int) -> None:
    """An enrollment ended: the phone removed the managed apps with it (remove on unenroll), so its rows
    go; the licenses follow at the next license pass. The caller commits."""
    hold(session, Lock.DESIRED_STATE)
    session.execute(delete(AppState).where(AppState.device_id == device_id))
