"""Small secrets kept in the database (an SMTP password), encrypted with a key derived from SECRET_KEY."""
from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


def _fernet(purpose: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"byod-secret-box:" + purpose.encode()).derive(current_app.config["SECRET_KEY"].encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(secret: str, purpose: str) -> str:
    """``secret`` encrypted and authenticated for ``purpose`` (a different purpose cannot open it)."""
    return _fernet(purpose).encrypt(secret.encode()).decode()


def unseal(sealed: str, purpose: str) -> str | None:
    """The secret, or None when it was sealed under another SECRET_KEY or purpose (it must be entered again)."""
    try:
        return _fernet(purpose).decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError):
        return None
