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

from flask import Response, current_app, g, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext
from itsdangerous import BadSignature, URLSafeTimedSerializer

from mdm_core import account_driven as protocol
from mdm_core.enrollment_profiles import EnrollmentProfileError

from ..auth import current_end_user, sign_in_url
from ..enrollment_grants import PROFILE_CONTENT_TYPE
from ..enrollment_policy import check_eligibility
from ..enrollment_service import (PrivacyNotAcknowledged, acknowledge_privacy, has_acknowledged, mint_enrollment_profile,
                                  record_refusal)
from ..extensions import csrf, db
from ..models import EndUser
from ..settings_store import EnrollmentSettings, load_enrollment_settings
from ..private_pages import keep_private
from ..request_body import bounded_body
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
    body = bounded_body(request, protocol.MAX_REQUEST_BYTES)
    if body is None:
        return _device_refusal(413, "enrollment request too large")
    settings = load_enrollment_settings()
    if not settings.account_driven_enabled:
        return _device_refusal(403, "Account-Driven User Enrollment is turned off")
    try:
        device_request = protocol.parse_enrollment_request(body)
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
        db.session.rollback()  # the token stays unused
        record_refusal(user, METHOD, eligibility.code)
        return _device_refusal(403, eligibility.reason)
    try:
        signed = mint_enrollment_profile(user, METHOD, access_token=grant_token,
                                         device={"product": device_request.product, "version": device_request.version})
    except EnrollmentProfileError:
        return _device_refusal(422, "the account cannot be put in an enrollment profile")
    return Response(signed, content_type=PROFILE_CONTENT_TYPE)


def _challenge(device_request: protocol.EnrollmentRequest) -> Response:
    context = _serializer().dumps({"language": device_request.language, "product": device_request.product,
                                   "version": device_request.version})
    url = current_app.config["PUBLIC_URL"] + url_for("account_driven.authenticate", context=context)
    return Response(b"", status=401, headers={"WWW-Authenticate": protocol.challenge_header(url)})


# 3. Web sign-in --------------------------------------------------------------------------


def _failure(settings: EnrollmentSettings, status: int, code: str, reason: str, *, retry_url: str | None = None,
             user: EndUser | None = None):
    """Every failure ends the phone's web sheet with an error status and a page saying why."""
    record_refusal(user, METHOD, code)
    return render_template("account_driven/refused.html", settings=settings, end_user=user, code=code,
                           reason=reason, retry_url=retry_url), status


def _privacy_page(settings: EnrollmentSettings, user: EndUser, product: str | None, status: int = 200,
                  problem: str | None = None):
    return render_template("enrollment/privacy.html", settings=settings, end_user=user, product=product,
                           problem=problem, form_action=request.full_path, submit_label=gettext("Continue enrollment")), status


@bp.route("/account-driven/authenticate/<context>", methods=["GET", "POST"])
def authenticate(context: str):
    settings = load_enrollment_settings()
    try:
        device = _serializer().loads(context, max_age=REQUEST_SECONDS)
        g.request_language = device.get("language")  # the phone's LANGUAGE picks the pages' (portal.i18n)
    except BadSignature:
        return _failure(settings, 400, "request_expired", gettext("This enrollment request has expired or is not valid. "
                        "Start again in Settings › General › VPN & Device Management."))
    identifier = request.args.get("user-identifier", "")
    try:
        protocol.split_user_identifier(identifier)
    except protocol.AccountDrivenError:
        return _failure(settings, 400, "bad_user_identifier", gettext("The device did not say which account is "
                        "enrolling. Start again in Settings › General › VPN & Device Management."))
    if not settings.account_driven_enabled:
        return _failure(settings, 403, "method_disabled",
                        gettext("Your organisation has turned enrollment by work account sign-in off. Ask IT how to "
                                "enroll."))
    here = request.full_path
    user = current_end_user()
    if user is None:
        return redirect(sign_in_url(here, login_hint=identifier))
    if not protocol.identifier_maps_to_account(identifier, user.managed_apple_id, user.email):
        return _failure(settings, 403, "identity_mismatch",
                        gettext("You signed in as %(signed_in)s, but this device is enrolling %(enrolling)s. Sign in "
                                "as %(enrolling)s, or start again in Settings with your own account.",
                                signed_in=user.managed_apple_id, enrolling=identifier),
                        retry_url=sign_in_url(here, login_hint=identifier), user=user)
    eligibility = check_eligibility(user, METHOD, settings)
    if not eligibility.allowed:
        return _failure(settings, 403, eligibility.code, eligibility.reason, user=user)
    user.language = str(get_locale())  # the phone's language, committed with the acknowledgement or token
    if request.method == "POST":
        return _acknowledge(settings, user, here)
    if not has_acknowledged(user, settings):
        return _privacy_page(settings, user, device.get("product"))
    token, _ = issue_access_token(user, device.get("product"))
    return Response(b"", status=308, headers={"Location": protocol.callback_url(token)})


def _acknowledge(settings: EnrollmentSettings, user: EndUser, here: str):
    try:
        acknowledge_privacy(user, METHOD, settings, request.form, request.remote_addr)
    except PrivacyNotAcknowledged as exc:
        return _privacy_page(settings, user, None, exc.status, problem=str(exc))
    return redirect(here, 303)
