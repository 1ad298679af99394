"""What can expire, for the expiry alerts: the push certificate, the device CA and the Apps and Books
content token; other parts add theirs with ``register_expiring(ExpiringThing(...))``."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..apps.tokens import current_token
from ..extensions import db
from ..models import PkiIdentity
from ..pki import DEVICE_CA, device_ca
from ..push.certificate import current_push_certificate

#: days before expiry at which an alert is raised, once each
THRESHOLDS = (30, 7, 1)
#: kinds of alert an admin can turn off, with their labels
KINDS = {"expiry": "Push certificate, device CA or content token about to expire",
         "apns_refused": "Apple refused the push certificate",
         "enrollment_failures": "SCEP or account-driven enrollment failures above the threshold",
         "offboarding": "Devices of offboarded people that have not answered their retirement"}


@dataclass(frozen=True)
class ExpiringThing:
    name: str  # stable, in alert keys
    label: str  # what the admin reads
    not_after: Callable[[], datetime | None]  # None: nothing to expire (not configured)


EXPIRING: list[ExpiringThing] = []


def register_expiring(thing: ExpiringThing) -> None:
    if all(existing.name != thing.name for existing in EXPIRING):
        EXPIRING.append(thing)


def _push_certificate() -> datetime | None:
    push = current_push_certificate()
    return push.not_after if push is not None else None


def _device_ca() -> datetime | None:
    if db.session.get(PkiIdentity, DEVICE_CA) is None:
        return None  # not created yet: nothing is enrolled
    return device_ca().certificate.not_valid_after_utc


register_expiring(ExpiringThing("push_certificate", "The push certificate", _push_certificate))
register_expiring(ExpiringThing("device_ca", "The device CA", _device_ca))


def _content_token() -> datetime | None:
    token = current_token(db.session)
    return token.expires_at if token is not None else None


register_expiring(ExpiringThing("content_token", "The Apps and Books content token", _content_token))
