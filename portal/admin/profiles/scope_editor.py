"""The scope editor: the form becomes the API's scope document (``parse_scope``), "Preview" shows how many
devices the change adds and removes (``preview_scope``, the SQL ``PUT .../scope`` runs), "Save" saves it
(``set_scope``), and a profile User Enrollment forbids is refused naming payload and key."""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from ...extensions import db
from ...ids import parse_id
from ...models import Group, SmartGroup
from ...profiles.desired import ITEM_TYPE
from ...profiles.library import ProfileRejected
from ...profiles.service import preview_scope, set_scope
from ...scope.targets import MAX_TARGETS, Scope, ScopeError, load_scopes, parse_scope
from .. import bp
from .library import live_profile, rejection_text

SIDES = ("", "exclude.")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


def document_from_form(form: MultiDict) -> dict[str, Any]:
    """The ``PUT .../scope`` JSON the form describes; ``parse_scope`` validates it as it does the API's."""
    sides = {}
    for side in SIDES:
        smart = [parse_id(v) for v in form.getlist(side + "smart_groups")]
        sides[side] = {"groups": list(dict.fromkeys(form.getlist(side + "groups")
                                                    + _lines(form.get(side + "groups_other", "")))),
                       "users": _lines(form.get(side + "users", "")),
                       "smart_groups": [v if v is not None else 0 for v in smart]}
    return {"all_user_enrolled": form.get("all_user_enrolled") == "on", "include_legacy": form.get("include_legacy") == "on",
            **sides[""], "exclude": sides["exclude."]}


def _form_values(document: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """What the page shows for a scope document: known groups ticked, others as text."""
    values = {"all_user_enrolled": document.get("all_user_enrolled"), "include_legacy": document.get("include_legacy")}
    for side, targets in (("", document), ("exclude.", document.get("exclude", {}))):
        groups = targets.get("groups", [])
        values[side + "groups"] = [g for g in groups if g in known]
        values[side + "groups_other"] = "\n".join(g for g in groups if g not in known)
        values[side + "users"] = "\n".join(targets.get("users", []))
        values[side + "smart_groups"] = list(targets.get("smart_groups", []))
    return values


@bp.route("/profiles/<id:profile_id>/scope", methods=["GET", "POST"])
@login_required
def profile_scope(profile_id: int):
    profile = live_profile(profile_id)
    groups = db.session.execute(select(Group.name).order_by(Group.name).limit(MAX_TARGETS)).scalars().all()
    smart_groups = db.session.scalars(select(SmartGroup).order_by(SmartGroup.name).limit(MAX_TARGETS)).all()
    context = {"profile": profile, "groups": groups, "smart_groups": smart_groups, "preview": None, "error": None}
    if request.method == "GET":
        stored = load_scopes(db.session, ITEM_TYPE, [profile.id]).get(profile.id, Scope())
        return render_template("admin/profiles/scope.html", values=_form_values(stored.to_json(), set(groups)),
                               **context)
    document = document_from_form(request.form)
    context["values"] = _form_values(document, set(groups))
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
