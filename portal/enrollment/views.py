"""The employee's enrollment pages. Eligibility lives in enrollment_policy, settings in settings_store."""
from __future__ import annotations

import re

from flask import Response, abort, g, redirect, render_template, request, url_for
from sqlalchemy import select

from mdm_core.enrollment_profiles import EnrollmentProfileError

from .. import audit
from ..auth import current_end_user, end_user_required, sign_in_url
from ..enrollment_grants import PROFILE_CONTENT_TYPE, mint_profile
from ..enrollment_policy import check_eligibility
from ..extensions import db
from ..markdown import render_markdown
from ..migration.actions import notice_for
from ..models import Device, PrivacyAcknowledgement
from ..settings_store import EnrollmentSettings, load_enrollment_settings
from ..private_pages import keep_private
from . import bp
from .platform import detect

METHOD = "profile_driven"


keep_private(bp)


@bp.app_template_filter("markdown")
def markdown_filter(text: str):
    return render_markdown(text)


def _languages() -> list[str]:
    return [value for value, _ in request.accept_languages]


def _page(template: str, settings: EnrollmentSettings, status: int = 200, **context):
    return render_template(template, settings=settings, platform=detect(request.user_agent.string),
                           end_user=current_end_user(), **context), status


def _current_acknowledgement(user_id: int, settings: EnrollmentSettings) -> PrivacyAcknowledgement | None:
    return db.session.scalar(select(PrivacyAcknowledgement).where(
        PrivacyAcknowledgement.user_id == user_id,
        PrivacyAcknowledgement.disclosure_version == settings.privacy_disclosure_version,
    ).limit(1))


def _refusal(settings: EnrollmentSettings):
    """A page explaining why this employee cannot get a profile now, or None when they can."""
    platform = detect(request.user_agent.string)
    if platform.needs_account_driven:
        return _page("enrollment/account_driven.html", settings, 409)
    eligibility = check_eligibility(g.end_user, METHOD, settings)
    if not eligibility.allowed:
        audit.record("enrollment.refused", target_type="end_user", target_id=g.end_user.id,
                     detail={"method": METHOD, "reason": eligibility.code})
        db.session.commit()
        return _page("enrollment/refused.html", settings, 403, eligibility=eligibility)
    return None


@bp.get("/enroll")
def landing():
    settings = load_enrollment_settings()
    end_user = current_end_user()
    return _page("enrollment/landing.html", settings, text=settings.text_for(_languages()),
                 sign_in=sign_in_url(url_for("enrollment.privacy")),
                 migration_rows=notice_for(end_user) if end_user else [])


@bp.route("/enroll/privacy", methods=["GET", "POST"])
@end_user_required
def privacy():
    settings = load_enrollment_settings()
    refusal = _refusal(settings)
    if refusal:
        return refusal
    if request.method == "POST":
        if request.form.get("version") != settings.privacy_disclosure_version:
            return _page("enrollment/privacy.html", settings, 409,
                         problem="The privacy text changed while you were reading it. Please read it again.")
        if request.form.get("acknowledge") != "yes":
            return _page("enrollment/privacy.html", settings, 400,
                         problem="Tick the box to confirm you have read what your organisation can and cannot see.")
        db.session.add(PrivacyAcknowledgement(user_id=g.end_user.id, disclosure_version=settings.privacy_disclosure_version,
                                              disclosure_text=settings.privacy_disclosure, remote_addr=request.remote_addr))
        audit.record("enrollment.privacy_acknowledged", target_type="end_user", target_id=g.end_user.id,
                     detail={"disclosure_version": settings.privacy_disclosure_version})
        db.session.commit()
        return redirect(url_for("enrollment.profile"))
    return _page("enrollment/privacy.html", settings)


@bp.get("/enroll/profile")
@end_user_required
def profile():
    settings = load_enrollment_settings()
    return _not_ready_for_profile(settings) or _page("enrollment/profile.html", settings)


def _not_ready_for_profile(settings):
    """Why the signed-in employee gets no profile yet (a refusal page, or the disclosure first), or None."""
    refusal = _refusal(settings)
    if refusal:
        return refusal
    if _current_acknowledgement(g.end_user.id, settings) is None:
        return redirect(url_for("enrollment.privacy"))
    return None


def _filename(organization: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", organization).strip("-")[:40] or "Work"
    return f"{slug}-User-Enrollment.mobileconfig"


@bp.post("/enroll/profile/download")
@end_user_required
def download():
    settings = load_enrollment_settings()
    not_ready = _not_ready_for_profile(settings)
    if not_ready:
        return not_ready
    user = g.end_user
    try:
        signed, grant = mint_profile(METHOD, user.managed_apple_id, user_id=user.id, created_by=f"user:{user.managed_apple_id}")
    except EnrollmentProfileError:
        db.session.rollback()
        abort(422, "Your Managed Apple ID cannot be put in an enrollment profile. Ask IT to check your account.")
    audit.record("enrollment_profile.minted", target_type="enrollment_grant", target_id=grant.id,
                 detail={"method": METHOD, "managed_apple_id": user.managed_apple_id})
    db.session.commit()
    return Response(signed, content_type=PROFILE_CONTENT_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{_filename(settings.organization_name)}"'})


@bp.get("/enroll/devices")
@end_user_required
def devices():
    settings = load_enrollment_settings()
    rows = db.session.scalars(select(Device).where(Device.user_id == g.end_user.id)
                              .order_by(Device.created_at.desc())).all()
    return _page("enrollment/devices.html", settings, devices=rows)
