"""Sign-in start, callback and sign-out; every failure ends on a page that says what happened."""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import current_app, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from .. import audit
from ..database.locks import Lock, hold
from ..extensions import db
from ..models import EndUser
from ..models.base import utcnow
from ..models.device import claim_unlinked
from ..safe_redirect import safe_page
from . import bp, oidc, session

log = logging.getLogger(__name__)
DEFAULT_NEXT = session.DEFAULT_NEXT
#: ``app.extensions`` key: what runs at every sign-in with the user, the IdP's groups and whether the claims changed
#: the person's name, e-mail or Managed Apple ID, in its transaction
#: (``create_app`` puts ``portal.desired_state.signed_in`` there: memberships and what follows from them).
SIGN_IN_HOOKS = "byod_sign_in_hooks"
MAX_LOGIN_HINT = 320


@bp.after_app_request
def write_session_cookies(response):
    return session.write_cookies(response)


def _failure(error: oidc.SignInError):
    audit.record("end_user.sign_in_failed", detail={"reason": error.code})
    db.session.commit()
    log.info("sign-in failed: %s", error.code)
    return render_template("auth/error.html", error=error, retry_url=url_for("auth.login", next=DEFAULT_NEXT)), error.status


def _same_origin(url: str) -> bool:
    ours, theirs = urlsplit(current_app.config["PUBLIC_URL"]), urlsplit(url)
    return (theirs.scheme.lower(), theirs.netloc.lower()) == (ours.scheme.lower(), ours.netloc.lower())


@bp.get("/auth/login")
def login():
    next_path = safe_page(request.args.get("next"), DEFAULT_NEXT)
    login_hint = (request.args.get("login_hint") or "").strip()[:MAX_LOGIN_HINT] or None
    try:
        url, flow = oidc.start(next_path, login_hint)
    except oidc.SignInError as error:
        return _failure(error)
    session.save_flow(flow)
    if request.args.get(session.AFTER_FORM) and not _same_origin(url):
        # This GET is a redirect that follows a form's submission, and the pages' form-action ('self') then
        # covers every further redirect: the browser would refuse the IdP on another origin. A page of our
        # own ends that navigation; it moves on to the IdP by itself (a refresh is no form's redirect).
        return render_template("auth/continue.html", idp_url=url)
    return redirect(url)


@bp.get("/auth/callback")
def callback():
    flow = session.pop_flow()
    try:
        if flow is None:
            raise oidc.SignInError("bad_state", _l("This sign-in took too long or was not started here. Start again from "
                                   "the enrollment page."))
        identity = oidc.finish(flow, request.args.to_dict())
    except oidc.SignInError as error:
        return _failure(error)
    user = _upsert_user(identity)
    if user.offboarded_at is not None:
        db.session.rollback()
        return _failure(oidc.SignInError(
            "offboarded", "Your account has been offboarded by your organisation, so you can no longer sign in "
            "here or enroll a device. If this is a mistake, contact IT.", 403))
    session.sign_in(user)
    audit.record("end_user.signed_in", target_type="end_user", target_id=user.id,
                 detail={"issuer": identity.issuer, "groups": identity.groups[:50]})
    db.session.commit()
    return redirect(safe_page(flow.next, DEFAULT_NEXT))


def _upsert_user(identity: oidc.Identity) -> EndUser:
    hold(db.session, Lock.DESIRED_STATE)  # first: the sign-in hooks re-scope the person's devices after this
    user = db.session.scalar(db.select(EndUser).where(EndUser.issuer == identity.issuer,
                                                      EndUser.subject == identity.subject))
    if user is None:  # directory sync may have provisioned them first: one person, matched by Managed Apple ID
        user = db.session.scalar(db.select(EndUser).where(EndUser.managed_apple_id == identity.managed_apple_id,
                                                          EndUser.subject.is_(None)).order_by(EndUser.id).limit(1))
    if user is None:
        user = EndUser(issuer=identity.issuer, subject=identity.subject)
        db.session.add(user)
    if user.offboarded_at is not None:
        return user
    renamed = (user.managed_apple_id, user.email, user.name) != (identity.managed_apple_id, identity.email,
                                                                identity.name)
    user.issuer, user.subject = identity.issuer, identity.subject
    user.managed_apple_id = identity.managed_apple_id
    user.email = identity.email
    user.name = identity.name
    user.groups = identity.groups
    user.last_login_at = utcnow()
    user.language = str(get_locale())
    db.session.flush()
    claimed = claim_unlinked(db.session, user)  # the first to take the address: what enrolled with it meanwhile
    for hook in current_app.extensions.get(SIGN_IN_HOOKS, ()):
        hook(user, identity.groups, renamed or claimed > 0)
    return user


@bp.post("/auth/logout")
def logout():
    user = session.current_end_user()
    if user is not None:
        audit.record("end_user.signed_out")
        session.end_employee_sessions(user)
        db.session.commit()
    session.sign_out()
    return redirect(url_for("enrollment.landing"))


@bp.app_context_processor
def identity_context():
    return {"demo_idp_active": not current_app.config.get("OIDC_ISSUER")}
