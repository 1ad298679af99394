"""The pin rule: a device request is served only if it proves the enrollment it claims.

Its certificate must be the one pinned to the enrollment at Authenticate, the enrollment must
not have ended and, for an account-driven enrollment, the request must carry the access token
bound to it. The rule has two forms, kept side by side here and tested against each other: the
SQL form lets one statement stamp the device and hand out its next command only for a request
that passes (PostgreSQL, ``portal.mdm.statements``); the Python form says why a request was
refused, from the row that statement returns or from the ORM device (check-in).
"""
from __future__ import annotations

from typing import Protocol

from sqlalchemy import ColumnElement, FromClause, and_, bindparam, or_

from mdm_core.account_driven import access_token_matches

from .refusals import Refusal

#: The status of an enrollment that ended (CheckOut, or removed on the server).
ENDED = "unenrolled"


class Pinned(Protocol):
    """What the rule reads from a device: the ORM ``Device`` or a ``statements.DeviceRow``."""

    certificate_fingerprint: str | None
    status: str
    access_token_hash: str | None


def proven(device: FromClause) -> ColumnElement[bool]:
    """The SQL form: true when the request passes, over ``device``'s columns.

    Parameters: ``fingerprint``, the request's certificate; ``token_hash``, the hash of its
    access token (``hash_access_token``), NULL without one.
    """
    return and_(device.c.certificate_fingerprint == bindparam("fingerprint"), device.c.status != ENDED,
                or_(device.c.access_token_hash.is_(None), device.c.access_token_hash == bindparam("token_hash")))


def refusal(device: Pinned | None, fingerprint: str, access_token: str | None) -> Refusal | None:
    """The Python form: why the request is refused, None when it passes."""
    if device is None:
        return Refusal.UNKNOWN_ENROLLMENT
    if device.certificate_fingerprint != fingerprint:
        return Refusal.CERTIFICATE_MISMATCH
    if device.status == ENDED:
        return Refusal.REMOVED
    if device.access_token_hash is not None and not access_token_matches(device.access_token_hash, access_token):
        return Refusal.ACCESS_TOKEN
    return None
