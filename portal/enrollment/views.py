"""The employee's enrollment pages. Eligibility lives in enrollment_policy, settings in settings_store."""
from __future__ import annotations

import re

from flask import Response, abort, g, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select

from mdm_core.enrollment_profiles import EnrollmentProfileError

from ..auth import current_end_user, end_user_required, sign_in_url
from ..downloads import attachment
from ..enrollment_grants import PROFILE_CONTENT_TYPE
from ..enrollment_policy import check_eligibility
from ..enrollment_service import (PrivacyNotAcknowledged, acknowledge_privacy, has_acknowledged, mint_enrollment_profile,
                                  record_refusal)
from ..extensions import db
from ..i18n import current_language
from ..markdown import render_markdown
from ..migration.actions import notice_for
from ..models import Device
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


def _privacy_page(settings: EnrollmentSettings, status: int = 200, **context):
    return _page("enrollment/privacy.html", settings, status, form_action=url_for("enrollment.privacy"),
                 submit_label=gettext("Continue"), **context)


def _refusal(settings: EnrollmentSettings):
    """A page explaining why this employee cannot get a profile now, or None when they can."""
    platform = detect(request.user_agent.string)
    if platform.needs_account_driven:  # iOS 18+: the profile no longer exists there
        return _page("enrollment/account_driven.html", settings, 409)
    if platform.too_old:  # before iOS 13.1: the profile's ManagedAppleID is unknown, so it cannot enroll
        return _page("enrollment/too_old.html", settings, 409)
    eligibility = check_eligibility(g.end_user, METHOD, settings)
    if not eligibility.allowed:
        record_refusal(g.end_user, METHOD, eligibility.code)
        return _page("enrollment/refused.html", settings, 403, eligibility=eligibility)
    return None


@bp.get("/enroll")
def landing():
    settings = load_enrollment_settings()
    end_user = current_end_user()
    return _page("enrollment/landing.html", settings, text=settings.text_for([*_languages(), current_language()]),
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
        try:
            acknowledge_privacy(g.end_user, METHOD, settings, request.form, request.remote_addr)
        except PrivacyNotAcknowledged as exc:
            return _privacy_page(settings, exc.status, problem=str(exc))
        return redirect(url_for("enrollment.profile"))
    return _privacy_page(settings)


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
    if not has_acknowledged(g.end_user, settings):
        return redirect(url_for("enrollment.privacy"))
    return None


def _disposition(organization: str) -> str:
    slug = re.sub(r"[\W_]+", "-", organization).strip("-")[:40] or "Work"  # \W: the name may be Łódź's
    return attachment(f"{slug}-User-Enrollment", ".mobileconfig")


@bp.post("/enroll/profile/download")
@end_user_required
def download():
    settings = load_enrollment_settings()
    not_ready = _not_ready_for_profile(settings)
    if not_ready:
        return not_ready
    try:
        signed = mint_enrollment_profile(g.end_user, METHOD)
    except EnrollmentProfileError:
        abort(422, gettext("Your Managed Apple ID cannot be put in an enrollment profile. Ask IT to check your account."))
    return Response(signed, content_type=PROFILE_CONTENT_TYPE,
                    headers={"Content-Disposition": _disposition(settings.organization_name)})


@bp.get("/enroll/devices")
@end_user_required
def devices():
    settings = load_enrollment_settings()
    rows = db.session.scalars(select(Device).where(Device.user_id == g.end_user.id)
                              .order_by(Device.created_at.desc())).all()
    return _page("enrollment/devices.html", settings, devices=rows)
