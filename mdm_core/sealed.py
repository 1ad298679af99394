"""Small secrets sealed at rest (the Apps and Books content token; the SMTP password through
``portal.secret_box``) with a key derived from the application secret, as the CA and push keys are
(:func:`mdm_core.ca.encrypt_private_key`).

Fernet (AES-128-CBC with HMAC-SHA256) from ``cryptography``: a changed or foreign ciphertext is
refused, never decrypted to garbage. The key is HKDF-SHA256 of the secret with its own label, so it
is never the key that protects the CA.
"""
from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SealError(ValueError):
    """The sealed bytes cannot be opened with this secret (changed, or sealed with another secret)."""


def _fernet(secret: bytes, label: bytes) -> Fernet:
    if not secret:
        raise SealError("an empty secret cannot seal anything")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"mdm-sealed:" + label).derive(secret)
    return Fernet(base64.urlsafe_b64encode(key))


def seal(data: bytes, secret: bytes, label: bytes) -> bytes:
    """``data`` encrypted and authenticated with a key derived from ``secret`` and ``label``."""
    return _fernet(secret, label).encrypt(data)


def unseal(sealed: bytes, secret: bytes, label: bytes) -> bytes:
    """The bytes :func:`seal` sealed with the same ``secret`` and ``label``; SealError otherwise."""
    try:
        return _fernet(secret, label).decrypt(bytes(sealed))
    except InvalidToken:
        raise SealError("cannot open the sealed secret: wrong secret, or the stored bytes changed") from None
