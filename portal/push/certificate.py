"""The imported MDM push certificate: import (validated, key encrypted at rest), load, status.

Stored as the ``apns_push`` PKI identity; its topic is mirrored into the ``apns_topic``
setting (``portal.pki.TOPIC_KEY``) so the check-in hot path reads one small row.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select

from mdm_core.apns.certificate import PushCertificate, PushCertificateError, load_push_certificate
from mdm_core.ca import Identity, certificate_fingerprint, identity_from_pem, identity_to_pem

from .. import audit
from ..extensions import db
from ..models import Device, PkiIdentity, PushOutbox
from ..models.base import utcnow
from ..models.device import DeviceStatus
from ..pki import TOPIC_KEY, push_topic
from ..settings_store import get_setting, set_setting

PUSH_IDENTITY = "apns_push"
ALERT_KEY = "apns_alert"

_cache: dict[tuple[str, bytes], PushCertificate] = {}
_lock = threading.Lock()


class TopicChangeRefused(PushCertificateError):
    """The new certificate's topic differs from the one enrolled devices use."""

    def __init__(self, old_topic: str | None, new_topic: str, orphaned: int) -> None:
        self.old_topic, self.new_topic, self.orphaned = old_topic, new_topic, orphaned
        super().__init__(
            f"the certificate's topic {new_topic} differs from the topic {old_topic or '(placeholder)'} that "
            f"{orphaned} enrolled device(s) use: they would stop receiving pushes and their check-ins would be "
            "refused until they enroll again. Renew the existing certificate in the Apple Push Certificates "
            "Portal to keep the topic, or confirm the change.")


@dataclass(frozen=True)
class PushStatus:
    """What the admin pages show about push."""

    topic: str | None
    not_after: datetime | None
    days_left: int | None
    expires_soon: bool
    alert: dict | None
    dead_tokens: int
    pending: int


def _secret() -> bytes:
    return current_app.config["SECRET_KEY"].encode()


def current_push_certificate() -> PushCertificate | None:
    """The imported push certificate with its decrypted key, or None before one is imported."""
    row = db.session.get(PkiIdentity, PUSH_IDENTITY)
    if row is None:
        return None
    key = (current_app.config["SQLALCHEMY_DATABASE_URI"], bytes(row.certificate_pem))
    cached = _cache.get(key)
    if cached is None:
        identity = identity_from_pem(row.certificate_pem, row.private_key_pem, _secret())
        cached = PushCertificate(identity.certificate, identity.private_key)
        with _lock:
            _cache.clear()
            _cache[key] = cached
    return cached


def import_push_certificate(cert_data: bytes, key_data: bytes | None = None, password: str | None = None,
                            *, allow_topic_change: bool = False) -> PushCertificate:
    """Validate and store a push certificate; the caller commits.

    Raises PushCertificateError (or TopicChangeRefused) with a message for the admin.
    """
    push = load_push_certificate(cert_data, key_data, password)
    old_topic, _placeholder = push_topic()
    if push.topic != old_topic and not allow_topic_change:
        orphaned = db.session.scalar(select(func.count()).select_from(Device).where(
            Device.status != DeviceStatus.UNENROLLED, Device.topic != push.topic))
        if orphaned:
            raise TopicChangeRefused(None if _placeholder else old_topic, push.topic, orphaned)
    cert_pem, key_pem = identity_to_pem(Identity(push.certificate, push.private_key), _secret())
    row = db.session.get(PkiIdentity, PUSH_IDENTITY)
    if row is None:
        db.session.add(PkiIdentity(name=PUSH_IDENTITY, certificate_pem=cert_pem, private_key_pem=key_pem))
    else:
        row.certificate_pem, row.private_key_pem, row.created_at = cert_pem, key_pem, utcnow()
    set_setting(TOPIC_KEY, push.topic)
    set_setting(ALERT_KEY, None)
    audit.record("apns.certificate_imported", target_type="push_certificate", target_id=push.topic,
                 detail={"not_after": push.not_after.isoformat(), "topic_changed": push.topic != old_topic,
                         "fingerprint": certificate_fingerprint(push.certificate)})
    return push


def raise_alert(reason: str) -> None:
    """Record an admin-visible push alert (APNs refused the certificate)."""
    set_setting(ALERT_KEY, {"reason": reason, "at": utcnow().isoformat()})


def clear_alert() -> None:
    if get_setting(ALERT_KEY) is not None:
        set_setting(ALERT_KEY, None)


def push_status() -> PushStatus:
    push = current_push_certificate()
    dead = db.session.scalar(select(func.count()).select_from(Device).where(
        Device.push_token_dead_at.is_not(None), Device.status != DeviceStatus.UNENROLLED))
    pending = db.session.scalar(select(func.count()).select_from(PushOutbox))
    return PushStatus(
        topic=push.topic if push else None,
        not_after=push.not_after if push else None,
        days_left=push.days_left() if push else None,
        expires_soon=push.expires_soon() if push else False,
        alert=get_setting(ALERT_KEY),
        dead_tokens=dead or 0,
        pending=pending or 0,
    )
