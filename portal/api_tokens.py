"""Listing and revoking API tokens, for the command line and the admin page (the secret is never shown again)."""
from __future__ import annotations

from sqlalchemy import select

from . import audit
from .extensions import db
from .ids import parse_id
from .models import ApiToken
from .models.api_token import hash_token
from .models.base import utcnow


def all_tokens() -> list[ApiToken]:
    """Every token, active first, newest first within each."""
    return list(db.session.scalars(select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())))


def active_tokens_named(name_or_id: str) -> list[ApiToken]:
    """The active tokens with this id (digits) or, failing that, this name."""
    active = select(ApiToken).where(ApiToken.revoked_at.is_(None))
    token_id = parse_id(name_or_id)
    if token_id is not None:
        found = db.session.scalars(active.where(ApiToken.id == token_id)).all()
        if found:
            return list(found)
    return list(db.session.scalars(active.where(ApiToken.name == name_or_id).order_by(ApiToken.id)))


def revoke(token: ApiToken, **actor: str) -> bool:
    """Revoke ``token`` (it answers 401 from the next request on) and audit it; False if it already was.

    ``actor`` (``actor_type``, ``actor``) names who revoked it outside a request. The caller commits.
    """
    if token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    audit.record("api_token.revoked", target_type="api_token", target_id=token.id, detail={"name": token.name}, **actor)
    return True


def bearer_token(authorization: str) -> ApiToken | None:
    """The active token an ``Authorization: Bearer`` header names, or None; its use is stamped (and committed)
    at most once per five minutes, so authenticating costs one read."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    api_token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token.strip())))
    if api_token is None or api_token.revoked_at is not None:
        return None
    now = utcnow()
    if api_token.last_used_at is None or (now - api_token.last_used_at).total_seconds() > 300:
        api_token.last_used_at = now
        db.session.commit()
    return api_token
