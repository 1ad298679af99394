"""API tokens: only a SHA-256 of the token is stored; the token is shown once at creation."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow

TOKEN_PREFIX = "bmdm_"
# Least privilege: a token carries only the scopes it was created with.
SCOPES = ("read", "commands", "enroll", "settings", "migration", "audit", "profiles")
SCOPES += ("apps",)  # managed apps and the Apps and Books content token
# Directory sync (/scim/v2): the identity provider holds this token, so it is exclusive: a ``scim`` token
# reaches nothing else, and a token without it (the default one too) never reaches SCIM.
SCIM_SCOPE = "scim"
SCOPES += (SCIM_SCOPE,)
DEFAULT_SCOPES = tuple(scope for scope in SCOPES if scope != SCIM_SCOPE)
SCOPES += ("mail",)  # the test message (issue 21); a "settings" token may send it too


def hash_token(token: str) -> str:
    # Tokens hold 256 random bits, so a fast hash is as strong as a KDF here.
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @classmethod
    def issue(cls, name: str, scopes: tuple[str, ...] = DEFAULT_SCOPES) -> tuple["ApiToken", str]:
        unknown = set(scopes) - set(SCOPES)
        if unknown:
            raise ValueError(f"unknown scope(s): {', '.join(sorted(unknown))}; known: {', '.join(SCOPES)}")
        if SCIM_SCOPE in scopes and set(scopes) != {SCIM_SCOPE}:
            raise ValueError("a 'scim' token holds no other scope: create a separate token for the directory")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        return cls(name=name, token_hash=hash_token(token), scopes=list(scopes)), token

    def allows(self, scope: str) -> bool:
        return self.revoked_at is None and scope in (self.scopes or [])
