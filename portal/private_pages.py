"""Pages that show inventory or personal data are never cached (the security headers are app-wide:
``portal.security_headers``)."""
from flask import Blueprint


def keep_private(bp: Blueprint) -> None:
    """Every response of ``bp`` is ``no-store``."""

    @bp.after_request
    def private_headers(response):
        response.headers.setdefault("Cache-Control", "no-store")
        return response
