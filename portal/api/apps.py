"""Managed apps: the content token, the catalogue, per-app settings, scope and per-device status
(DESIGN section 6, Apps). Changes need the ``apps`` scope, reading ``read``."""
from __future__ import annotations

from flask import abort, g, request
from sqlalchemy import select

from ..apps import sync
from ..apps.catalogue import AppRejected, add_app, update_app
from ..apps.configuration import as_json, load
from ..apps.delivery import deliver_all
from ..apps.desired import ITEM_TYPE
from ..apps.licenses import licenses_needed
from ..apps.service import app_json, configuration_changed, delete_app, set_scope, status_counts, waiting_reasons
from ..apps.tokens import TokenRejected, claim_now, current_token, save_token
from ..errors import api_error
from ..extensions import db
from ..models import App, AppState
from ..models.app import APP_STATUSES, AppStatus
from ..request_body import bounded_body
from ..scope.targets import Scope, load_scopes
from . import bp
from .auth import require_scope
from .pages import id_page
from .scope_change import scope_answer


def _actor() -> str:
    return f"token:{g.api_token.name}"


def _rejected(exc: AppRejected):
    db.session.rollback()
    return api_error(exc.status, exc.error, exc.detail)


def _app(app_id: int) -> App:
    app = db.session.get(App, app_id)
    if app is None or app.deleted_at is not None:
        abort(api_error(404, "not_found", f"no app {app_id}"))
    return app


def token_json(row) -> dict:
    return {"organization": row.organization, "expires_at": row.expires_at.isoformat(),
            "location": {"name": row.location_name, "claimed": row.claimed_at is not None,
                         "other_server": row.other_server},
            "expired": row.expired_at is not None, "last_sync_at": row.last_sync_at and row.last_sync_at.isoformat(),
            "last_error": row.last_error}


@bp.post("/vpp/token")
@require_scope("apps")
def upload_vpp_token():
    data = bounded_body(request, 64 * 1024)
    if data is None:
        return api_error(413, "request_entity_too_large", "a content token is at most 64 KiB")
    try:
        row, _ = save_token(db.session, data, _actor())
    except TokenRejected as exc:
        db.session.rollback()
        return api_error(400, "not_a_content_token", str(exc))
    db.session.commit()
    claim_now(db.session, row, take_over=request.args.get("take_over") in ("1", "true", "yes"))
    return token_json(row)


@bp.get("/vpp/token")
@require_scope("read")
def get_vpp_token():
    row = current_token(db.session)
    if row is None:
        return api_error(404, "not_found", "no content token has been uploaded")
    return token_json(row)


@bp.post("/vpp/sync")
@require_scope("apps")
def sync_vpp_now():
    """The catalogue and licenses now, not at the worker's next pass."""
    if current_token(db.session) is None:
        return api_error(409, "no_content_token", "upload the location's content token first")
    done = sync.run(db.session, sync_catalogue=True)
    if done.get("busy"):
        return api_error(409, "sync_in_progress", "another sync is calling the Apps and Books service: try again "
                                                  "when it ends")
    deliver_all(db.session)
    return {"done": dict(done), "token": token_json(current_token(db.session))}


@bp.get("/apps")
@require_scope("read")
def list_apps():
    limit, after = id_page()
    statement = select(App).where(App.deleted_at.is_(None)).order_by(App.id).limit(limit + 1)
    if after is not None:
        statement = statement.where(App.id > after)
    apps = list(db.session.scalars(statement))
    more, apps = len(apps) > limit, apps[:limit]
    ids = [app.id for app in apps]
    counts, needed = status_counts(db.session, ids), licenses_needed(db.session, ids)
    return {"apps": [app_json(db.session, app, counts[app.id], needed[app.id]) for app in apps],
            "next": str(apps[-1].id) if more else None}


@bp.post("/apps")
@require_scope("apps")
def create_app_entry():
    try:
        app = add_app(db.session, request.get_json(silent=True), _actor())
    except AppRejected as exc:
        return _rejected(exc)
    db.session.commit()
    return app_json(db.session, app), 201


@bp.get("/apps/<id:app_id>")
@require_scope("read")
def get_app(app_id: int):
    app = _app(app_id)
    scope = load_scopes(db.session, ITEM_TYPE, [app.id]).get(app.id, Scope())
    return {**app_json(db.session, app), "configuration": as_json(load(app.configuration)), "scope": scope.to_json()}


@bp.patch("/apps/<id:app_id>")
@require_scope("apps")
def patch_app(app_id: int):
    app = _app(app_id)
    try:
        changed = update_app(db.session, app, request.get_json(silent=True), _actor())
    except AppRejected as exc:
        return _rejected(exc)
    if "configuration" in changed:
        configuration_changed(db.session, app)
    db.session.commit()
    return {**app_json(db.session, app), "changed": changed}


@bp.delete("/apps/<id:app_id>")
@require_scope("apps")
def delete_app_entry(app_id: int):
    delete_app(db.session, _app(app_id), _actor())
    db.session.commit()
    return {"id": app_id, "deleted": True}


@bp.put("/apps/<id:app_id>/scope")
@require_scope("apps")
def set_app_scope(app_id: int):
    return scope_answer(_app(app_id), set_scope, AppRejected, _rejected)


@bp.get("/apps/<id:app_id>/status")
@require_scope("read")
def app_status(app_id: int):
    app = _app(app_id)
    status = request.args.get("status")
    if status and status not in APP_STATUSES:
        return api_error(400, "bad_request", f"status must be one of {', '.join(APP_STATUSES)}")
    limit, after = id_page()
    statement = select(AppState).where(AppState.app_id == app.id).order_by(AppState.device_id).limit(limit + 1)
    statement = statement.where(AppState.status == status if status else AppState.status != AppStatus.REMOVED)
    if after is not None:
        statement = statement.where(AppState.device_id > after)
    states = list(db.session.scalars(statement))
    more, states = len(states) > limit, states[:limit]
    reasons = waiting_reasons(db.session, app, states)
    return {"counts": status_counts(db.session, [app.id])[app.id],
            "licenses_needed": licenses_needed(db.session, [app.id])[app.id],
            "devices": [app_state_json(state, reasons.get(state.device_id)) for state in states],
            "next": str(states[-1].device_id) if more else None}


def app_state_json(state: AppState, waiting_reason: str | None = None) -> dict:
    """One device's state for one app, as the status list and the device show it (``error``: the row's own,
    or why a pending install waits, ``service.waiting_reasons``)."""
    return {"device_id": state.device_id, "app_id": state.app_id, "operation": state.operation,
            "status": AppStatus.PENDING if state.status == AppStatus.INSTALLING else state.status,
            "detail": state.status, "error": state.error or waiting_reason, "attempts": state.attempts,
            "next_attempt_at": state.next_attempt_at.isoformat() if state.next_attempt_at else None,
            "updated_at": state.updated_at.isoformat()}
