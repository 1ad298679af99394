"""The profile library pages: the list with status counts, upload with the checker's verdict, a profile's
page, the signed download, replacing by upload, and delete. Changes go through ``portal.profiles.service``,
the functions the API calls."""
from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from mdm_core import cms, mobileconfig, plist
from mdm_core.profile_variables import VariableError, device_values, substitute

from ...downloads import attachment
from ...extensions import db
from ...ids import parse_id
from ...models import Device, EndUser, Profile
from ...paging import id_cursor, page_limit
from ...pki import device_ca, profile_signer
from ...profiles.desired import ITEM_TYPE
from ...profiles.library import ProfileRejected, refusal_message
from ...profiles.service import create_profile, delete_profile, list_profiles, status_counts, update_profile
from ...scope.targets import Scope, load_scopes
from .. import bp
from .builder_fields import KIND_BY_TYPE

PAGE_SIZE = 50


class PageError(ValueError):
    pass


def actor() -> str:
    return current_user.email


def live_profile(profile_id: int) -> Profile:
    """The profile, or 404 (also for a deleted one)."""
    profile = db.session.get(Profile, profile_id)
    if profile is None or profile.deleted_at is not None:
        abort(404)
    return profile


def profile_content(profile: Profile) -> dict[str, Any]:
    """The stored profile's dictionary (its bytes were decoded once already, at upload)."""
    return mobileconfig.decode(profile.content).profile


def payload_summary(content: dict[str, Any]) -> list[dict[str, str]]:
    """Each payload's type, the builder's name for it, and its display name."""
    summary = []
    for payload in content.get("PayloadContent") or []:
        if isinstance(payload, dict):
            kind = KIND_BY_TYPE.get(payload.get("PayloadType"))
            summary.append({"type": str(payload.get("PayloadType") or "?"), "kind": kind.title if kind else "",
                            "display_name": str(payload.get("PayloadDisplayName") or "")})
    return summary


def read_file(field: str) -> bytes:
    """An uploaded file's bytes, read no further than the largest profile accepted (and one byte more)."""
    upload = request.files.get(field)
    if upload is None or not upload.filename:
        raise PageError("choose a .mobileconfig file")
    return upload.read(mobileconfig.MAX_MOBILECONFIG_BYTES + 1)


def rejection_text(exc: ProfileRejected) -> str:
    """A rejection in one sentence, naming payload and key where the detail lists problems."""
    detail = exc.detail
    if isinstance(detail, dict) and "problems" in detail:
        return detail.get("message") or refusal_message(detail["problems"])
    if isinstance(detail, list):
        return refusal_message(detail)
    return str(detail)


@bp.get("/profiles")
@login_required
def profiles():
    try:
        limit, after = page_limit(request.args, PAGE_SIZE, PageError), id_cursor(request.args, PageError)
    except PageError as exc:
        flash(str(exc), "error")
        limit, after = PAGE_SIZE, None
    rows, counts, more = list_profiles(db.session, limit, after)
    contents = db.session.execute(select(Profile.id, Profile.content).where(Profile.id.in_([p.id for p in rows])))
    return render_template("admin/profiles/library.html", profiles=rows, counts=counts,
                           kinds={i: payload_summary(mobileconfig.decode(c).profile) for i, c in contents},
                           next_cursor=rows[-1].id if more else None)


@bp.route("/profiles/upload", methods=["GET", "POST"])
@login_required
def profile_upload():
    if request.method == "GET":
        return render_template("admin/profiles/upload.html", error=None)
    try:
        profile = create_profile(db.session, read_file("profile"), request.form.get("name") or None, actor())
    except PageError as exc:
        return render_template("admin/profiles/upload.html", error=str(exc)), 400
    except ProfileRejected as exc:
        db.session.rollback()
        return render_template("admin/profiles/upload.html", error=rejection_text(exc)), exc.status
    db.session.commit()
    flash(f"Profile {profile.name} saved; the checker's verdict is below.", "info")
    return redirect(url_for("admin.profile_page", profile_id=profile.id)), 303


@bp.get("/profiles/<id:profile_id>")
@login_required
def profile_page(profile_id: int):
    profile = live_profile(profile_id)
    content = profile_content(profile)
    scope = load_scopes(db.session, ITEM_TYPE, [profile.id]).get(profile.id, Scope())
    return render_template("admin/profiles/profile.html", profile=profile, payloads=payload_summary(content),
                           counts=status_counts(db.session, [profile.id])[profile.id], scope=scope,
                           errors=[p for p in profile.problems if p.get("severity") == "error"],
                           warnings=[p for p in profile.problems if p.get("severity") != "error"])


def filled_for(content: dict[str, Any], device_text: str) -> dict[str, Any]:
    """``content`` with its variables filled for the device whose id is ``device_text`` (a user identity SCEP
    payload stays marked: a download must not issue a challenge); PageError says why it cannot be."""
    device_id = parse_id(device_text)
    device = db.session.get(Device, device_id) if device_id is not None else None
    if device is None:
        raise PageError(f"no device {device_text[:20]}")
    user = device.user or db.session.scalar(select(EndUser).where(
        EndUser.managed_apple_id == device.managed_apple_id).order_by(EndUser.last_login_at.desc()).limit(1))
    try:
        return substitute(content, device_values(managed_apple_id=device.managed_apple_id,
                                                 email=user.email if user else None,
                                                 full_name=user.name if user else None,
                                                 enrollment_id=device.enrollment_id))
    except VariableError as exc:
        raise PageError(f"device {device.id}: {exc}") from None


@bp.get("/profiles/<id:profile_id>/download")
@login_required
def profile_download(profile_id: int):
    """What a device receives, signed by the profile-signing identity: the template (variables unfilled), or
    with ``?device=<id>`` filled for that device."""
    profile = live_profile(profile_id)
    content = profile_content(profile)
    if request.args.get("device"):
        try:
            content = filled_for(content, request.args["device"])
        except PageError as exc:
            flash(f"Not downloaded: {exc}", "error")
            return redirect(url_for("admin.profile_page", profile_id=profile.id)), 303
    signed = cms.sign(plist.dumps(content), profile_signer(), extra_certs=[device_ca().certificate])
    return Response(signed, content_type="application/x-apple-aspen-config",
                    headers={"Content-Disposition": attachment(profile.identifier[:100], ".mobileconfig")})


@bp.post("/profiles/<id:profile_id>/replace")
@login_required
def profile_replace(profile_id: int):
    profile = live_profile(profile_id)
    try:
        changed = update_profile(db.session, profile, read_file("profile"), None, actor())
    except PageError as exc:
        flash(str(exc), "error")
    except ProfileRejected as exc:
        db.session.rollback()
        flash(f"Not saved: {rejection_text(exc)}", "error")
    else:
        db.session.commit()
        flash("Profile replaced; devices that have it get it again." if changed else "Nothing changed.", "info")
    return redirect(url_for("admin.profile_page", profile_id=profile_id)), 303


@bp.post("/profiles/<id:profile_id>/delete")
@login_required
def profile_delete(profile_id: int):
    profile = live_profile(profile_id)
    if request.form.get("confirm") != "yes":
        flash("Tick the confirmation box to delete this profile.", "error")
        return redirect(url_for("admin.profile_page", profile_id=profile_id)), 303
    delete_profile(db.session, profile, actor())
    db.session.commit()
    flash(f"Profile {profile.name} deleted; it is being removed from every device that has it.", "info")
    return redirect(url_for("admin.profiles")), 303
