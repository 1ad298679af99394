"""Only a token holding the ``scim`` scope reaches SCIM (and it reaches nothing else: see ApiToken.issue); a
change takes the desired state's lock first."""
from __future__ import annotations

from flask import g, request

from ..api_tokens import bearer_token
from ..database.locks import Lock, hold
from ..errors import scim_error
from ..extensions import db
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


@bp.before_request
def changes_first_take_the_lock():
    """A SCIM change writes people, groups and memberships, then re-scopes their devices: it takes the desired
    state's lock before its first write (``portal.database.locks``), as every such transaction does."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        hold(db.session, Lock.DESIRED_STATE)
    return None
