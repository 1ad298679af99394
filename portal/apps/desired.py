"""Reconciliation: bring ``app_states`` in line with every app's scope, set-based, as
``portal.profiles.desired`` does for profiles (the same scope resolution, the same four moves: new
pairs get a pending install, pairs back in scope install again, rows out of scope are removed, and
rows whose app configuration changed are sent the new one). The licenses follow the device rows
(``portal.apps.licenses``).
"""
from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import CTE, ColumnElement, Integer, Select, and_, case, delete, exists, literal, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..inventory.sweep import stale_after
from ..models import App, AppState
from ..models.base import utcnow
from ..models.app import AppStatus
from ..models.profile import INSTALL, REMOVE
from ..scope.resolve import devices_in
from ..scope.targets import Scope, load_scopes, smart_group_criteria

ITEM_TYPE = "app"
_states = AppState.__table__
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_RESET = {"last_command_uuid": None, "attempts": 0, "next_attempt_at": None, "error": None, "error_chain": None}


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
    branches = []
    for app_id in live:
        scope = scopes.get(app_id)
        if scope is None or scope.empty:
            continue
        branch = scope_devices(session, scope, now)
        if device_ids is not None:
            branch = branch.where(branch.selected_columns[0].in_(device_ids))
        branches.append(branch.add_columns(literal(app_id, Integer).label("app_id")))
    if not branches:
        return None
    return (union_all(*branches) if len(branches) > 1 else branches[0]).cte("in_scope")


def reconcile(session: Session, *, app_ids: Collection[int] | None = None,
              device_ids: Select | Collection[int] | None = None, now: datetime | None = None) -> None:
    """Rewrite the desired state of the apps (all, or ``app_ids``) on the devices (all, or ``device_ids``)
    from their scopes; a constant number of statements. The caller commits."""
    now = now or utcnow()
    pairs = _pairs(session, app_ids, device_ids, now)
    concerned = [c for c in (_states.c.app_id.in_(app_ids) if app_ids is not None else None,
                             _states.c.device_id.in_(device_ids) if device_ids is not None else None) if c is not None]
    if pairs is not None:
        in_scope = exists().where(pairs.c.app_id == _states.c.app_id, pairs.c.id == _states.c.device_id)
        known = select(_states.c.device_id).where(_states.c.app_id == pairs.c.app_id, _states.c.device_id == pairs.c.id)
        insert = _INSERTS[session.get_bind().dialect.name](_states)
        session.execute(insert.from_select(
            ["device_id", "app_id", "operation", "status", "attempts", "updated_at"],
            select(pairs.c.id, pairs.c.app_id, literal(INSTALL), literal(AppStatus.PENDING), literal(0),
                   literal(now, AppState.updated_at.type)).where(~exists(known))).on_conflict_do_nothing())
        session.execute(update(_states).where(_states.c.operation == REMOVE, in_scope, *concerned)
                        .values(operation=INSTALL, status=AppStatus.PENDING, updated_at=now, **_RESET))
    out_of_scope = [_states.c.operation == INSTALL, *concerned]
    if pairs is not None:
        out_of_scope.append(~in_scope)
    session.execute(update(_states).where(*out_of_scope).values(
        operation=REMOVE, status=case((_may_be_installed(), AppStatus.REMOVING), else_=AppStatus.REMOVED),
        updated_at=now, **_RESET))
    current = select(App.configuration_revision).where(App.id == _states.c.app_id).scalar_subquery()
    session.execute(update(_states).where(
        _states.c.operation == INSTALL, _states.c.status.in_((AppStatus.INSTALLED, AppStatus.INSTALLING)),
        _states.c.identifier.isnot(None), _states.c.configuration_revision.is_distinct_from(current), *concerned)
        .values(status=AppStatus.PENDING, updated_at=now, **_RESET))


def _may_be_installed() -> ColumnElement:
    """Installed, or an install command went out: a RemoveApplication is needed to be sure it is gone."""
    return (_states.c.status.in_((AppStatus.INSTALLED, AppStatus.INSTALLING))
            | and_(_states.c.status == AppStatus.PENDING, _states.c.last_command_uuid.isnot(None))
            | _states.c.identifier.isnot(None))


def forget_device(session: Session, device_id: int) -> None:
    """An enrollment ended: the phone removed the managed apps with it (remove on unenroll), so its rows
    go; the licenses follow at the next license pass. The caller commits."""
    session.execute(delete(AppState).where(AppState.device_id == device_id))
