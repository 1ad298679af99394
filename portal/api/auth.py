"""Bearer-token authentication and scope checks for every API route."""
from __future__ import annotations

from functools import wraps
from typing import Callable

from flask import g, request

from ..api_tokens import bearer_token
from ..errors import api_error
from ..rate_limits.guard import record_failure
from . import bp


PUBLIC_ENDPOINTS = frozenset({"api.openapi_document", "api.user_identity_ca_certificate"})


@bp.before_request
def authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorized("missing bearer token")
    api_token = bearer_token(header)
    if api_token is None:
        return _unauthorized("invalid or revoked token")
    g.api_token = api_token


def _unauthorized(detail: str):
    limited = record_failure("api_token")  # a failed token names no account: limited per address
    if limited is not None:
        return limited
    response = api_error(401, "unauthorized", detail)
    response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def require_scope(scope: str, *alternatives: str) -> Callable:
    """Refuse (403) a token that was created with none of ``scope`` and ``alternatives``."""
    scopes = (scope, *alternatives)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not any(g.api_token.allows(s) for s in scopes):
                wanted = " or ".join(f"'{s}'" for s in scopes)
                return api_error(403, "forbidden", f"this token lacks the {wanted} scope")
            return view(*args, **kwargs)

        return wrapper

    return decorator
