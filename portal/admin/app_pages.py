"""One app's pages: its settings (name, bundle ID, managed configuration, per-app VPN), its scope with a
preview of the devices it adds and removes, and the status of each device."""
from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from ..apps import icons
from ..apps.catalogue import AppRejected, per_app_vpn_profiles, update_app
from ..apps.configuration import load
from ..apps.desired import ITEM_TYPE
from ..apps.licenses import licenses_needed
from ..apps.service import configuration_changed, preview_scope, set_scope, status_counts, waiting_reasons
from ..extensions import db
from ..ids import parse_id
from ..models import App, AppState, Device
from ..scope.targets import Scope, load_scopes
from . import bp
from .scope_form import edit_scope

STATES_SHOWN = 200


def _app(app_id: int) -> App:
    app = db.session.get(App, app_id)
    if app is None or app.deleted_at is not None:
        abort(404, "No such app.")
    return app


def configuration_text(app: App) -> str:
    """The stored configuration as the editor shows it: the XML plist's <dict>."""
    if app.configuration is None:
        return ""
    text = bytes(app.configuration).decode()
    start, end = text.find("<dict>"), text.rfind("</dict>")
    return text[start:end + len("</dict>")] if start >= 0 else text


def _vpn_profile_id(value: str) -> int | None:
    """The chosen per-app VPN profile, None for none; text that is no id is refused, not taken for none."""
    if not value:
        return None
    profile_id = parse_id(value)
    if profile_id is None:
        raise AppRejected(422, "invalid_vpn_profile", f"no profile {value[:40]}")
    return profile_id


@bp.route("/apps/<id:app_id>", methods=["GET", "POST"])
@login_required
def app_page(app_id: int):
    app = _app(app_id)
    status = 200
    if request.method == "POST":
        form = request.form
        try:
            changes = {"name": form.get("name", ""), "bundle_id": form.get("bundle_id", ""),
                       "configuration": form.get("configuration", ""),
                       "vpn_profile_id": _vpn_profile_id(form.get("vpn_profile_id", ""))}
            changed = update_app(db.session, app, changes, current_user.email)
        except AppRejected as exc:
            db.session.rollback()
            flash(f"Refused: {exc.detail}", "error")
            status = exc.status if exc.status in (400, 409, 422) else 400
        else:
            if "configuration" in changed:
                configuration_changed(db.session, app)
            db.session.commit()
            flash(f"Saved: {', '.join(changed) or 'nothing changed'}.", "info")
            return redirect(url_for("admin.app_page", app_id=app.id)), 303
    states = db.session.execute(select(AppState, Device).join(Device, Device.id == AppState.device_id)
                                .where(AppState.app_id == app.id, AppState.status != "removed")
                                .order_by(AppState.device_id).limit(STATES_SHOWN)).all()
    scope = load_scopes(db.session, ITEM_TYPE, [app.id]).get(app.id, Scope())
    return render_template("admin/app.html", app=app, counts=status_counts(db.session, [app.id])[app.id],
                           needed=licenses_needed(db.session, [app.id])[app.id], states=states, scope=scope,
                           reasons=waiting_reasons(db.session, app, [state for state, _ in states]),
                           configuration=request.form.get("configuration") if status != 200 else configuration_text(app),
                           vpn_profiles=per_app_vpn_profiles(db.session), has_configuration=load(app.configuration)
                           is not None), status


@bp.route("/apps/<id:app_id>/scope", methods=["GET", "POST"])
@login_required
def app_scope(app_id: int):
    app = _app(app_id)
    return edit_scope(ITEM_TYPE, app, title=app.name or app.bundle_id or f"app {app.id}",
                      back=(url_for("admin.app_page", app_id=app.id), "Back to the app"),
                      preview=preview_scope, save=set_scope, rejected=AppRejected, describe=str)


@bp.get("/apps/<id:app_id>/icon")
@login_required
def app_icon(app_id: int):
    """The app's App Store icon from this origin (the pages' policy loads no image from elsewhere)."""
    icon = icons.fetch(_app(app_id).icon_url)
    if icon is None:
        return Response(status=404, headers={"Cache-Control": "private, max-age=300"})
    return Response(icon.content, content_type=icon.content_type,
                    headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"})
