"""Small secrets kept in the database as text (an SMTP password): :mod:`mdm_core.sealed`, the one way
this server seals a secret at rest (the Apps and Books content token too), keyed by SECRET_KEY."""
from __future__ import annotations

from flask import current_app

from mdm_core import sealed


def app_secret() -> bytes:
    """The key material every sealed secret derives its key from."""
    return current_app.config["SECRET_KEY"].encode()


def seal(secret: str, purpose: str) -> str:
    """``secret`` encrypted and authenticated for ``purpose`` (a different purpose cannot open it)."""
    return sealed.seal(secret.encode(), app_secret(), purpose.encode()).decode()


def unseal(sealed_text: str, purpose: str) -> str | None:
    """The secret, or None when it was sealed under another SECRET_KEY or purpose (it must be entered again)."""
    try:
        return sealed.unseal(sealed_text.encode(), app_secret(), purpose.encode()).decode()
    except ValueError:  # SealError, or bytes that are not text
        return None
