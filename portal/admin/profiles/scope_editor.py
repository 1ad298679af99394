"""The scope editor: the form becomes the API's scope document (``parse_scope``), "Preview" shows how many
devices the change adds and removes (``preview_scope``, the SQL ``PUT .../scope`` runs), "Save" saves it
(``set_scope``), and a profile User Enrollment forbids is refused naming payload and key."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import login_required

from ...extensions import db
from ...profiles.desired import ITEM_TYPE
from ...profiles.library import ProfileRejected
from ...profiles.service import preview_scope, set_scope
from ...scope.targets import Scope, ScopeError, load_scopes, parse_scope
from .. import bp
from ..scope_form import document_from_form, form_values, scope_choices
from .library import live_profile, rejection_text


@bp.route("/profiles/<id:profile_id>/scope", methods=["GET", "POST"])
@login_required
def profile_scope(profile_id: int):
    profile = live_profile(profile_id)
    groups, smart_groups = scope_choices()
    context = {"profile": profile, "groups": groups, "smart_groups": smart_groups, "preview": None, "error": None}
    if request.method == "GET":
        stored = load_scopes(db.session, ITEM_TYPE, [profile.id]).get(profile.id, Scope())
        return render_template("admin/profiles/scope.html", values=form_values(stored.to_json(), set(groups)),
                               **context)
    document = document_from_form(request.form)
    context["values"] = form_values(document, set(groups))
    try:
        scope = parse_scope(document)
        if request.form.get("action") == "save":
            change = set_scope(db.session, profile, scope)
            db.session.commit()
            flash(f"Scope saved: {change.devices_added} devices added, {change.devices_removed} removed.", "info")
            return redirect(url_for("admin.profile_scope", profile_id=profile.id)), 303
        context["preview"] = preview_scope(db.session, profile, scope)
    except ScopeError as exc:
        context["error"], status = str(exc), exc.status
    except ProfileRejected as exc:
        db.session.rollback()
        context["error"], status = rejection_text(exc), exc.status
        context["problems"] = exc.detail.get("problems") if isinstance(exc.detail, dict) else None
    else:
        status = 200
    return render_template("admin/profiles/scope.html", **context), status
