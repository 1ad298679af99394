"""The phone's side of Account-Driven User Enrollment: thin views over ``mdm_core.account_driven``.

1. ``GET /.well-known/com.apple.remotemanagement``: discovery JSON, or Apple's 403
   ``com.apple.well-known.failed`` (method off, domain not managed, not an iPhone/iPad).
2. ``POST /account-driven/enroll`` (the BaseURL): without a valid bearer token (none, or one
   that is unknown, used or expired), ``401`` with the ``apple-as-web`` challenge, as DESIGN.md
   says; a new sign-in gives a new token, so this cannot loop. With a fresh token, the signed
   BYOD enrollment profile. What a new sign-in cannot fix (the method turned off, a user who
   may not enroll) is refused with ``403``.
3. ``/account-driven/authenticate/<request>``: the web sign-in page. ``<request>`` is a signed,
   expiring blob of what the phone said in its POST; it lives in the path because the phone
   drops the challenge URL's query. It ends with ``308`` to the callback URL carrying the token,
   or with an error status and a readable page.
"""
from __future__ import annotations

import json
import logging

from flask import Response, current_app, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from mdm_core import account_driven as protocol
from mdm_core.enrollment_profiles import EnrollmentProfileError

from .. import audit
from ..auth import current_end_user, sign_in_url
from ..enrollment_grants import PROFILE_CONTENT_TYPE, mint_profile
from ..enrollment_policy import check_eligibility
from ..extensions import csrf, db
from ..models import EndUser, PrivacyAcknowledgement
from ..settings_store import EnrollmentSettings, load_enrollment_settings
from ..private_pages import keep_private
from . import bp
from .tokens import consume_access_token, issue_access_token

log = logging.getLogger(__name__)
METHOD = "account_driven"
MODEL_FAMILIES = ("iPhone", "iPad")  # the check-in protocol served here is iOS/iPadOS User Enrollment
REQUEST_SECONDS = 30 * 60
ENROLL_PATH = "/account-driven/enroll"


keep_private(bp)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="account-driven-request")


def _base_url() -> str:
    return current_app.config["PUBLIC_URL"] + ENROLL_PATH


# 1. Discovery ----------------------------------------------------------------------------


def _discovery_refused(message: str, description: str) -> Response:
    log.info("account-driven discovery refused: %s", description)
    return Response(json.dumps(protocol.well_known_failed(message, description)), status=403,
                    mimetype="application/json")


@bp.get(protocol.DISCOVERY_PATH)
def discovery():
    settings = load_enrollment_settings()
    if not settings.account_driven_enabled:
        return _discovery_refused("This organisation does not enroll devices by work account sign-in.",
                                  "Account-Driven User Enrollment is turned off")
    try:
        _, domain = protocol.split_user_identifier(request.args.get("user-identifier"))
    except protocol.AccountDrivenError as exc:
        return _discovery_refused("Check the account you entered and try again.", str(exc))
    if domain not in settings.managed_domains:
        return _discovery_refused(f"Accounts of {domain} cannot enroll devices here.",
                                  f"{domain} is not a managed domain")
    family = request.args.get("model-family")
    if family is not None and family not in MODEL_FAMILIES:
        return _discovery_refused("Only iPhone and iPad can enroll with this organisation.",
                                  f"model-family {family[:40]!r} is not served")
    return Response(json.dumps(protocol.discovery_document(_base_url())), mimetype="application/json")


# 2. The enrollment endpoint ----------------------------------------------------------------


def _device_refusal(status: int, reason: str) -> Response:
    log.warning("account-driven enrollment refused: %s", reason, extra={"status": status})
    return Response(reason + "\n", status=status, mimetype="text/plain")


@bp.post(ENROLL_PATH)
@csrf.exempt
def enroll():
    if (request.content_length or 0) > protocol.MAX_REQUEST_BYTES:
        return _device_refusal(413, "enrollment request too large")
    settings = load_enrollment_settings()
    if not settings.account_driven_enabled:
        return _device_refusal(403, "Account-Driven User Enrollment is turned off")
    try:
        device_request = protocol.parse_enrollment_request(request.get_data())
    except protocol.AccountDrivenError as exc:
        return _device_refusal(400, str(exc))
    authorization = request.headers.get("Authorization")
    token = protocol.bearer_token(authorization)
    grant_token = consume_access_token(token) if token else None
    if grant_token is None:
        db.session.rollback()
        if authorization is not None:
            log.info("account-driven enrollment challenged again: the access token is unknown, used or expired")
        return _challenge(device_request)
    user = db.session.get(EndUser, grant_token.user_id)
    eligibility = check_eligibility(user, METHOD, settings)
    if not eligibility.allowed:
        db.session.rollback()
        _record_refusal(user, eligibility.code)
        return _device_refusal(403, eligibility.reason)
    try:
        signed, grant = mint_profile(METHOD, grant_token.managed_apple_id, user_id=user.id,
                                     created_by=f"user:{user.managed_apple_id}")
    except EnrollmentProfileError:
        db.session.rollback()
        return _device_refusal(422, "the account cannot be put in an enrollment profile")
    grant_token.grant_id = grant.id
    audit.record("enrollment_profile.minted", actor_type="device", actor=user.managed_apple_id,
                 target_type="enrollment_grant", target_id=grant.id,
                 detail={"method": METHOD, "managed_apple_id": user.managed_apple_id,
                         "product": device_request.product, "version": device_request.version})
    db.session.commit()
    return Response(signed, content_type=PROFILE_CONTENT_TYPE)


def _challenge(device_request: protocol.EnrollmentRequest) -> Response:
    context = _serializer().dumps({"language": device_request.language, "product": device_request.product,
                                   "version": device_request.version})
    url = current_app.config["PUBLIC_URL"] + url_for("account_driven.authenticate", context=context)
    return Response(b"", status=401, headers={"WWW-Authenticate": protocol.challenge_header(url)})


# 3. Web sign-in --------------------------------------------------------------------------


def _record_refusal(user: EndUser | None, code: str) -> None:
    audit.record("enrollment.refused", target_type="end_user" if user else None, target_id=user.id if user else None,
                 detail={"method": METHOD, "reason": code})
    db.session.commit()


def _failure(settings: EnrollmentSettings, status: int, code: str, reason: str, *, retry_url: str | None = None,
             user: EndUser | None = None):
    """Every failure ends the phone's web sheet with an error status and a page saying why."""
    _record_refusal(user, code)
    return render_template("account_driven/refused.html", settings=settings, end_user=user, code=code,
                           reason=reason, retry_url=retry_url), status


def _acknowledged(user: EndUser, settings: EnrollmentSettings) -> bool:
    return db.session.scalar(select(PrivacyAcknowledgement.id).where(
        PrivacyAcknowledgement.user_id == user.id,
        PrivacyAcknowledgement.disclosure_version == settings.privacy_disclosure_version).limit(1)) is not None


@bp.route("/account-driven/authenticate/<context>", methods=["GET", "POST"])
def authenticate(context: str):
    settings = load_enrollment_settings()
    try:
        device = _serializer().loads(context, max_age=REQUEST_SECONDS)
    except BadSignature:
        return _failure(settings, 400, "request_expired", "This enrollment request has expired or is not valid. "
                        "Start again in Settings › General › VPN & Device Management.")
    identifier = request.args.get("user-identifier", "")
    try:
        protocol.split_user_identifier(identifier)
    except protocol.AccountDrivenError:
        return _failure(settings, 400, "bad_user_identifier", "The device did not say which account is enrolling. "
                        "Start again in Settings › General › VPN & Device Management.")
    if not settings.account_driven_enabled:
        return _failure(settings, 403, "method_disabled",
                        "Your organisation has turned enrollment by work account sign-in off. Ask IT how to enroll.")
    here = request.full_path
    user = current_end_user()
    if user is None:
        return redirect(sign_in_url(here, login_hint=identifier))
    if user.managed_apple_id.lower() != identifier.lower():
        return _failure(settings, 403, "identity_mismatch",
                        f"You signed in as {user.managed_apple_id}, but this device is enrolling {identifier}. "
                        f"Sign in as {identifier}, or start again in Settings with your own account.",
                        retry_url=sign_in_url(here, login_hint=identifier), user=user)
    eligibility = check_eligibility(user, METHOD, settings)
    if not eligibility.allowed:
        return _failure(settings, 403, eligibility.code, eligibility.reason, user=user)
    if request.method == "POST":
        return _acknowledge(settings, user, here)
    if not _acknowledged(user, settings):
        return render_template("account_driven/privacy.html", settings=settings, end_user=user, device=device)
    token, row = issue_access_token(user, device.get("product"))
    audit.record("enrollment.access_token_issued", target_type="end_user", target_id=user.id,
                 detail={"method": METHOD, "token_id": row.id, "product": device.get("product")})
    db.session.commit()
    return Response(b"", status=308, headers={"Location": protocol.callback_url(token)})


def _acknowledge(settings: EnrollmentSettings, user: EndUser, here: str):
    problem = None
    if request.form.get("version") != settings.privacy_disclosure_version:
        problem, status = "The privacy text changed while you were reading it. Please read it again.", 409
    elif request.form.get("acknowledge") != "yes":
        problem, status = "Tick the box to confirm you have read what your organisation can and cannot see.", 400
    if problem:
        return render_template("account_driven/privacy.html", settings=settings, end_user=user, problem=problem,
                               device={}), status
    db.session.add(PrivacyAcknowledgement(user_id=user.id, disclosure_version=settings.privacy_disclosure_version,
                                          disclosure_text=settings.privacy_disclosure, remote_addr=request.remote_addr))
    audit.record("enrollment.privacy_acknowledged", target_type="end_user", target_id=user.id,
                 detail={"disclosure_version": settings.privacy_disclosure_version, "method": METHOD})
    db.session.commit()
    return redirect(here, 303)
