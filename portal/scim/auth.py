"""Only a token holding the ``scim`` scope reaches SCIM (and it reaches nothing else: see ApiToken.issue)."""
from __future__ import annotations

from flask import g, request

from ..api_tokens import bearer_token
from ..errors import scim_error
from ..models.api_token import SCIM_SCOPE
from ..rate_limits.guard import record_failure
from . import bp


@bp.before_request
def authenticate():
    api_token = bearer_token(request.headers.get("Authorization", ""))
    if api_token is None:
        limited = record_failure("api_token")  # the same per-address budget as the REST API
        if limited is not None:
            return limited
        response = scim_error(401, "a valid bearer token with the 'scim' scope is required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="scim"'
        return response
    if not api_token.allows(SCIM_SCOPE):
        return scim_error(403, "this token lacks the 'scim' scope")
    g.api_token = api_token
    return None
