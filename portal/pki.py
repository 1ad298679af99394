"""The server's identities (device CA, profile signer, user identity CA) and push topic, loaded from the database.

Created on first use and shared by every web node through the database; each process keeps
the decoded identities in memory because they change only when an admin replaces them.
"""
from __future__ import annotations

import threading
import uuid

from flask import current_app
from sqlalchemy.exc import IntegrityError

from mdm_core.ca import Identity, create_ca, create_signing_identity, identity_from_pem, identity_to_pem
from mdm_core.user_identity import create_user_identity_ca

from .extensions import db
from .models import PkiIdentity, Setting
from .settings_store import organization_name

DEVICE_CA = "device_ca"
PROFILE_SIGNER = "profile_signer"
USER_IDENTITY_CA = "user_identity_ca"
#: The imported push certificate's topic (written by ``portal.push.certificate`` on import).
TOPIC_KEY = "apns_topic"
PLACEHOLDER_TOPIC_KEY = "apns_placeholder_topic"

_cache: dict[tuple[str, str], Identity] = {}
_lock = threading.RLock()


def _secret() -> bytes:
    return current_app.config["SECRET_KEY"].encode()


def _load_or_create(name: str, make) -> Identity:
    key = (current_app.config["SQLALCHEMY_DATABASE_URI"], name)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    with _lock:
        row = db.session.get(PkiIdentity, name)
        if row is None:
            cert_pem, key_pem = identity_to_pem(make(), _secret())
            row = _insert_once(PkiIdentity, name, lambda: PkiIdentity(name=name, certificate_pem=cert_pem,
                                                                      private_key_pem=key_pem))
        identity = identity_from_pem(row.certificate_pem, row.private_key_pem, _secret())
        _cache[key] = identity
        return identity


def device_ca() -> Identity:
    """The CA that issues device identities (SCEP) and that every Mdm-Signature must chain to."""
    return _load_or_create(DEVICE_CA, lambda: create_ca(f"{organization_name()} Device CA", organization_name()))


def profile_signer() -> Identity:
    """The identity that signs enrollment and configuration profiles."""
    return _load_or_create(PROFILE_SIGNER, lambda: create_signing_identity(device_ca(), f"{organization_name()} Profile Signing"))


def user_identity_ca() -> Identity:
    """The CA that issues users' Wi-Fi, VPN and mail identities (SCEP); never the device CA."""
    return _load_or_create(USER_IDENTITY_CA, lambda: create_user_identity_ca(organization_name()))


def forget_cached_identities() -> None:
    """Drop the in-process copies (after an admin replaces an identity, and between tests)."""
    _cache.clear()


def push_topic() -> tuple[str, bool]:
    """The APNs topic for profiles: ``(topic, is_placeholder)``.

    The imported push certificate's topic once there is one. Until then, a placeholder topic
    generated once is used so that enrollment works in demos; the admin pages flag it.
    """
    imported = db.session.get(Setting, TOPIC_KEY)
    if imported is not None:
        return imported.value, False
    setting = db.session.get(Setting, PLACEHOLDER_TOPIC_KEY) or _insert_once(
        Setting, PLACEHOLDER_TOPIC_KEY,
        lambda: Setting(key=PLACEHOLDER_TOPIC_KEY, value=f"com.apple.mgmt.External.{uuid.uuid4()}"))
    return setting.value, True


def current_topic() -> str | None:
    """The topic devices must name (imported or placeholder), without creating one: a check-in
    can only come from a profile minted after the topic existed."""
    for key in (TOPIC_KEY, PLACEHOLDER_TOPIC_KEY):
        row = db.session.get(Setting, key)
        if row is not None:
            return row.value
    return None


def _insert_once(model, key: str, build):
    """Insert ``build()`` in a savepoint and commit; if another node inserted it first, only the
    savepoint is undone and theirs is used. Returns the row that won."""
    try:
        with db.session.begin_nested():
            db.session.add(build())
        db.session.commit()
    except IntegrityError:
        pass
    return db.session.get(model, key)
