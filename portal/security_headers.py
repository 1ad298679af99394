"""The security headers every response carries, pages, JSON, errors and the command connection alike.

Computed once when the app is built. The policy allows no inline script or style (the templates have
none; everything comes from ``static/``). ``form-action`` also allows the account-driven callback
scheme: acknowledging the privacy text is a form post whose redirects end there. The referrer policy
is ``same-origin``, not ``no-referrer``: Flask-WTF refuses an https form post without a same-origin
Referer.
"""
from __future__ import annotations

from flask import Flask

from mdm_core.account_driven import CALLBACK_SCHEME

CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; base-uri 'none'; "
                           f"form-action 'self' {CALLBACK_SCHEME}:; frame-ancestors 'none'")
HSTS = "max-age=63072000; includeSubDomains"

Headers = list[tuple[str, str]]


def security_headers(https: bool) -> Headers:
    """The headers for an app served over ``https`` (config ``PUBLIC_URL_HTTPS``) or not; HSTS only over https."""
    headers = [("Content-Security-Policy", CONTENT_SECURITY_POLICY),
               ("X-Content-Type-Options", "nosniff"),
               ("Referrer-Policy", "same-origin"),
               ("X-Frame-Options", "DENY")]
    if https:
        headers.append(("Strict-Transport-Security", HSTS))
    return headers


def add_to_flask_responses(app: Flask, headers: Headers) -> None:
    """Every response Flask finishes (views, error handlers, static files) gets ``headers``;
    a view that set one of them itself keeps its own."""

    @app.after_request
    def add_security_headers(response):
        for name, value in headers:
            response.headers.setdefault(name, value)
        return response
