"""The profile builder pages: one form holds the whole profile; "Add payload" and "Remove" re-render it
with every value kept, "Save" builds the profile and stores it through the same service as an upload."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import login_required

from mdm_core import plist

from ...extensions import db
from ...profiles.library import ProfileRejected
from ...profiles.service import create_profile, update_profile
from .. import bp
from .builder_fields import KINDS, VARIABLE_HELP, USER_IDENTITY_CA, fields_of, restriction_choices
from .builder_form import MAX_PAYLOADS, Draft, build, draft_from_form, draft_from_profile
from .library import actor, live_profile, profile_content, rejection_text


def _render(draft: Draft, profile=None, status: int = 200):
    return render_template("admin/profiles/builder.html", draft=draft, profile=profile, kinds=KINDS,
                           fields_of=fields_of, restriction_keys=restriction_choices(), variable_help=VARIABLE_HELP,
                           user_identity_ca=USER_IDENTITY_CA, max_payloads=MAX_PAYLOADS), status


def _rearranged(draft: Draft) -> bool:
    """Apply an "add" or "remove" action to the draft; True when the form only needs showing again."""
    action = request.form.get("action", "")
    if action == "add":
        kind = request.form.get("add_kind")
        if kind not in KINDS:
            draft.errors["payloads"] = "choose a kind of payload to add"
        elif len(draft.payloads) >= MAX_PAYLOADS:
            draft.errors["payloads"] = f"a profile holds at most {MAX_PAYLOADS} payloads here"
        else:
            draft.add(kind)
        return True
    if action.startswith("remove-") and action[7:].isdigit():
        index = int(action[7:])
        if index < len(draft.payloads):
            del draft.payloads[index]
        return True
    return action != "save"


@bp.route("/profiles/new", methods=["GET", "POST"])
@login_required
def profile_builder():
    if request.method == "GET":
        draft = Draft()
        if request.args.get("kind") in KINDS:
            draft.add(request.args["kind"])
        return _render(draft)
    draft = draft_from_form(request.form, request.files)
    if _rearranged(draft):
        return _render(draft)
    content = build(draft)
    if content is None:
        return _render(draft, status=422)
    try:
        profile = create_profile(db.session, plist.dumps(content), draft.meta["display_name"].strip(), actor())
    except ProfileRejected as exc:
        db.session.rollback()
        draft.errors["identifier" if exc.status == 409 else "payloads"] = rejection_text(exc)
        return _render(draft, status=exc.status)
    profile.source = "builder"
    db.session.commit()
    flash(f"Profile {profile.name} saved. Set its scope to send it to devices.", "info")
    return redirect(url_for("admin.profile_page", profile_id=profile.id)), 303


@bp.route("/profiles/<id:profile_id>/edit", methods=["GET", "POST"])
@login_required
def profile_edit(profile_id: int):
    profile = live_profile(profile_id)
    if request.method == "GET":
        draft = draft_from_profile(profile_content(profile))
        if draft is None:
            flash("This profile holds payloads or keys the builder does not offer; edit it by uploading a new file "
                  "with the same identifier.", "error")
            return redirect(url_for("admin.profile_page", profile_id=profile.id)), 303
        return _render(draft, profile)
    draft = draft_from_form(request.form, request.files)
    draft.meta["identifier"] = profile.identifier  # an edit keeps the identifier: the phone replaces the profile
    if _rearranged(draft):
        return _render(draft, profile)
    content = build(draft)
    if content is None:
        return _render(draft, profile, 422)
    try:
        changed = update_profile(db.session, profile, plist.dumps(content), draft.meta["display_name"].strip(),
                                 actor())
    except ProfileRejected as exc:
        db.session.rollback()
        draft.errors["payloads"] = rejection_text(exc)
        return _render(draft, profile, exc.status)
    db.session.commit()
    flash("Profile saved; devices that have it get it again." if changed else "Nothing changed.", "info")
    return redirect(url_for("admin.profile_page", profile_id=profile.id)), 303
