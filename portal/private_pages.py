"""Headers for pages that show inventory or personal data: never cached, and locked to this origin."""
from flask import Blueprint

CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"


def keep_private(bp: Blueprint) -> None:
    """Every response of ``bp`` is ``no-store``; its HTML pages load nothing from elsewhere and leak no referrer."""

    @bp.after_request
    def private_headers(response):
        response.headers.setdefault("Cache-Control", "no-store")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers.setdefault("Referrer-Policy", "same-origin")
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response
