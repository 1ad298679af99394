"""Where the limits apply, and the 429 answer with ``Retry-After`` in each surface's own form.

Endpoints limited on every request are listed in ``ENDPOINTS`` and checked by one ``before_request``
hook: one statement per request, whatever the number of keys. Limits that count only failures (a bad
API token, a wrong SCEP challenge) are counted by ``record_failure`` where the failure is known, so a
request that succeeds pays nothing for them. The MDM check-in and command connection are never limited:
they carry every enrolled device's traffic and authenticate each request by its signature.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, current_app, render_template, request
from flask_babel import ngettext

from ..auth.session import current_end_user
from ..errors import HTTP_TITLES, api_error, wants_json
from . import counter
from ..rate_limit_quotas import SCOPES

log = logging.getLogger(__name__)
MAX_ACCOUNT_KEY = 120  # longer accounts are keyed by their SHA-256


def _always() -> bool:
    return True


def _post() -> bool:
    return request.method == "POST"


def _pki_operation() -> bool:
    return request.args.get("operation") == "PKIOperation"


def _signed_in_account() -> str | None:
    user = current_end_user()
    return user.managed_apple_id if user is not None else None


@dataclass(frozen=True)
class Guard:
    """The limits an endpoint counts on each request it applies to (``when``).

    ``failures`` are failures-only limits (counted by ``record_failure``) that also close the endpoint
    while exceeded: read in the same statement, never counted here. ``answer`` is ``text`` for
    devices, ``page`` for the rest (an HTML page, or JSON under ``/api/`` and ``/.well-known/``).
    """

    limits: tuple[str, ...]
    failures: tuple[str, ...] = ()
    when: Callable[[], bool] = _always
    account: Callable[[], str | None] | None = None
    answer: str = "page"


ENDPOINTS: dict[str, Guard] = {
    "admin.login": Guard(("admin_sign_in",), when=_post, account=lambda: request.form.get("email")),
    "auth.login": Guard(("sign_in",)),
    "auth.callback": Guard(("sign_in",)),
    "enrollment.download": Guard(("enrollment",), account=_signed_in_account),
    "account_driven.discovery": Guard(("account_driven",)),
    "account_driven.enroll": Guard(("account_driven",), answer="text"),
    "mdm.scep": Guard(("scep",), failures=("scep_challenge",), when=_pki_operation, answer="text"),
    "mdm.identity_scep": Guard(("scep",), failures=("scep_challenge",), when=_pki_operation, answer="text"),
}


def register_rate_limits(app: Flask) -> None:
    """Check ``ENDPOINTS`` before anything else runs on them (CSRF included: refused forms count too)."""
    app.before_request(_check_endpoint)


def _check_endpoint() -> Response | None:
    guard = ENDPOINTS.get(request.endpoint or "")
    if guard is None or not guard.when():
        return None
    account = guard.account() if guard.account is not None else None
    hits = [hit for limit in guard.limits for hit in _hits(limit, account, increment=1)]
    hits += [hit for limit in guard.failures for hit in _hits(limit, None, increment=0)]
    return _answer(counter.count(hits)) if hits else None


def record_failure(limit: str, account: str | None = None) -> Response | None:
    """Count a failed attempt against ``limit``; the 429 answer once failures exceed the quota, else None.

    Call it outside any write transaction of the request's session (SQLite allows one writer).
    """
    hits = _hits(limit, account, increment=1)
    return _answer(counter.count(hits)) if hits else None


def _hits(limit: str, account: str | None, increment: int) -> list[counter.Hit]:
    quotas = current_app.config["RATE_LIMIT_QUOTAS"].get(limit, {})
    values = {"ip": client_address(), "account": account_key(account)}
    return [counter.Hit(f"{limit}:{scope}:{values[scope]}", quotas[scope], increment)
            for scope in SCOPES if scope in quotas and values[scope]]


def client_address() -> str:
    """The client's address as the key of its limits: an IPv6 client by its /64, since one host holds a
    whole /64. Behind a reverse proxy, ``request.remote_addr`` is right only with ``TRUSTED_PROXY_COUNT``."""
    text = request.remote_addr or ""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text[:64] or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
    return str(address)


def account_key(account: str | None) -> str | None:
    """An account (e-mail, Managed Apple ID) as a key: trimmed, lower-case, bounded in length."""
    normalised = (account or "").strip().lower()
    if len(normalised) > MAX_ACCOUNT_KEY:
        return "sha256:" + hashlib.sha256(normalised.encode()).hexdigest()
    return normalised or None


def _answer(exceeded: counter.Exceeded | None) -> Response | None:
    if exceeded is None:
        return None
    if exceeded.first:
        log.warning("rate limit exceeded: %s; refused for %d s", exceeded.key, exceeded.retry_after)
    message = f"Too many requests. Try again in {exceeded.retry_after} seconds."
    guard = ENDPOINTS.get(request.endpoint or "")
    if guard is not None and guard.answer == "text":
        response = Response(message + "\n", status=429, mimetype="text/plain")
    elif wants_json():
        response = api_error(429, "too_many_requests", message)
    else:  # a page, in the reader's language as every error page (English on the admin's)
        message = ngettext("Too many requests. Try again in %(num)d second.",
                           "Too many requests. Try again in %(num)d seconds.", exceeded.retry_after)
        response = Response(render_template("errors/error.html", code=429, title=HTTP_TITLES[429],
                                            message=message), status=429, mimetype="text/html")
    response.headers["Retry-After"] = str(exceeded.retry_after)
    return response
