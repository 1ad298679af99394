"""Employee sessions, kept apart from admin sessions: their own signed cookies, never Flask's session.

``byod_user_session`` holds the signed-in employee and their session version, which the server can bump
(``end_employee_sessions``) to end every copy of the cookie; ``byod_oidc_flow`` holds one sign-in in progress
(state, nonce, PKCE verifier, where to go next) for ten minutes.
"""
from __future__ import annotations

from dataclasses import asdict
from functools import wraps
from typing import Any, Callable

from flask import Response, current_app, g, redirect, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..extensions import db
from ..models import EndUser
from ..safe_redirect import READING_METHODS, form_page
from ..session_cookie import renew_csrf_token
from .oidc import FlowState

USER_COOKIE = "byod_user_session"
FLOW_COOKIE = "byod_oidc_flow"
USER_SESSION_SECONDS = 8 * 3600
FLOW_SECONDS = 600
#: ``/auth/login`` parameter: this sign-in follows a form's submission (see ``sign_in_url``)
AFTER_FORM = "after_form"
DEFAULT_NEXT = "/enroll"
_UNSET = object()


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def _load(cookie: str, salt: str, max_age: int) -> Any:
    value = request.cookies.get(cookie)
    if not value:
        return None
    try:
        return _serializer(salt).loads(value, max_age=max_age)
    except BadSignature:
        return None


def _queue_cookie(name: str, value: str | None, max_age: int) -> None:
    g.setdefault("end_user_cookies", {})[name] = (value, max_age)


def write_cookies(response: Response) -> Response:
    """Set or clear the cookies queued during the request (registered as an after-request hook)."""
    secure = current_app.config["PUBLIC_URL_HTTPS"]
    for name, (value, max_age) in g.get("end_user_cookies", {}).items():
        if value is None:
            response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="Lax")
        else:
            response.set_cookie(name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="Lax")
    return response


def save_flow(flow: FlowState) -> None:
    _queue_cookie(FLOW_COOKIE, _serializer("byod-oidc-flow").dumps(asdict(flow)), FLOW_SECONDS)


def pop_flow() -> FlowState | None:
    """The sign-in in progress (consumed: a callback can run once), or None when missing or expired."""
    data = _load(FLOW_COOKIE, "byod-oidc-flow", FLOW_SECONDS)
    _queue_cookie(FLOW_COOKIE, None, 0)
    if not isinstance(data, dict):
        return None
    try:
        return FlowState(**data)
    except TypeError:
        return None


def sign_in(user: EndUser) -> None:
    """Start the employee's session; the browser's CSRF secret is renewed, so no pre-sign-in form works."""
    renew_csrf_token()
    g.end_user = user
    _queue_cookie(USER_COOKIE, _serializer("byod-end-user").dumps(
        {"uid": user.id, "sub": user.subject, "v": user.session_version}), USER_SESSION_SECONDS)


def sign_out() -> None:
    g.end_user = None
    _queue_cookie(USER_COOKIE, None, 0)


def end_employee_sessions(user: EndUser) -> None:
    """End every session of ``user`` (sign-out, offboarding): no copy of their cookie opens a page again.

    The caller commits.
    """
    user.session_version = EndUser.session_version + 1  # in SQL, so two sign-outs at once both count


def current_end_user() -> EndUser | None:
    """The signed-in employee (also set as ``g.end_user`` for the audit log), or None."""
    cached = g.get("end_user", _UNSET)
    if cached is not _UNSET:
        return cached
    data = _load(USER_COOKIE, "byod-end-user", USER_SESSION_SECONDS)
    user = None
    if isinstance(data, dict) and isinstance(data.get("uid"), int):
        user = db.session.get(EndUser, data["uid"])
        if user is not None and (user.subject != data.get("sub") or user.session_version != data.get("v")
                                 or user.offboarded_at is not None):
            user = None
    g.end_user = user
    return user


def sign_in_url(next_path: str, login_hint: str | None = None) -> str:
    """The local URL that starts sign-in and comes back to ``next_path`` (a local path, a page) when done.

    From a form's submission (any method but GET or HEAD) it says so: browsers hold every redirect after a
    submission to the pages' ``form-action``, so sign-in then stops on a page of its own before the IdP.
    """
    after_form = request.method not in READING_METHODS or None
    return url_for("auth.login", next=next_path, login_hint=login_hint or None, **{AFTER_FORM: after_form})


def end_user_required(view: Callable) -> Callable:
    """Send a visitor who is not signed in to sign-in, coming back to this page afterwards (for a form's
    submission, to the page that showed the form: its POST-only path would be a 405 after sign-in)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if current_end_user() is None:
            return redirect(sign_in_url(form_page(DEFAULT_NEXT)))
        return view(*args, **kwargs)

    return wrapper
