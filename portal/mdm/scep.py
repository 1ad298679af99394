"""SCEP (RFC 8894) for device identities: the private key never leaves the phone.

``answer`` serves both SCEP endpoints (device identities here, user identities in ``identity_scep``);
a ``ScepPolicy`` says what differs: the CA, what a challenge authorises, and what is issued.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from flask import Response, current_app, request
from sqlalchemy.exc import IntegrityError

from mdm_core.ca import Identity, certificate_fingerprint
from mdm_core.scep import SCEPError
from mdm_core.scep.server import get_ca_caps, get_ca_cert, handle_pki_operation, message_from_query

from .. import audit
from ..enrollment_grants import consume_challenge
from ..extensions import csrf, db
from ..pki import device_ca
from ..rate_limits.guard import record_failure
from ..request_body import bounded_body
from . import bp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScepPolicy:
    """One SCEP endpoint's rules. ``consume`` uses a challenge up and returns what it authorises (None: refused,
    ``badRequest``); ``issue`` makes the certificate for it (None: the CSR's subject, from ``ca``); ``issued``
    records the certificate in the request's transaction."""

    ca: Callable[[], Identity]
    consume: Callable[[str], Any | None]
    issued: Callable[[Any, x509.Certificate], None]
    issue: Callable[[Any, x509.CertificateSigningRequest], x509.Certificate] | None = None


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


def answer(policy: ScepPolicy) -> Response:
    """GetCACaps, GetCACert and PKIOperation (POST, or GET with ``message``) under ``policy``."""
    operation = request.args.get("operation", "")
    if operation == "GetCACaps":
        return Response(get_ca_caps(), mimetype="text/plain")
    if operation == "GetCACert":
        body, content_type = get_ca_cert(policy.ca())
        return Response(body, content_type=content_type)
    if operation != "PKIOperation":
        return _text(400, "unknown or missing SCEP operation")
    granted = []

    def authorize(challenge, csr) -> bool:
        grant = policy.consume(challenge)
        if grant is not None:
            granted.append(grant)
        return grant is not None

    issue = None if policy.issue is None else (lambda csr: policy.issue(granted[0], csr))
    try:
        if request.method == "POST":
            message = bounded_body(request, limit := current_app.config["MAX_CONTENT_LENGTH"])
            if message is None:
                return _text(413, f"body larger than {limit} bytes")
        else:
            message = message_from_query(request.args.get("message", ""))
        result = handle_pki_operation(message, policy.ca(), authorize=authorize, issue=issue)
    except SCEPError as exc:
        db.session.rollback()
        log.warning("SCEP request refused: %s", exc)
        audit.record("scep.refused", actor_type="device", detail={"reason": str(exc)[:200]})  # for admin alerts
        db.session.commit()
        return _text(400, f"bad SCEP request: {exc}")
    if result.certificate is not None and granted:
        policy.issued(granted[0], result.certificate)
    else:
        log.warning("SCEP enrollment refused: %s", result.fail_reason)
        audit.record("scep.refused", actor_type="device", detail={"reason": result.fail_reason})
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return _text(409, "certificate already recorded")
    # badRequest without a grant: a wrong, used or expired challenge (or no PKCSReq at all); counted after
    # the commit, as SQLite has one writer
    if not granted and result.fail_reason == "badRequest" and (limited := record_failure("scep_challenge")):
        return limited
    return Response(result.response, content_type="application/x-pki-message")


def _record_device_identity(grant, certificate: x509.Certificate) -> None:
    grant.certificate_fingerprint = certificate_fingerprint(certificate)
    audit.record("scep.certificate_issued", actor_type="device", actor=grant.managed_apple_id,
                 target_type="enrollment_grant", target_id=grant.id,
                 detail={"serial": format(certificate.serial_number, "x")})


DEVICE_IDENTITIES = ScepPolicy(ca=device_ca, consume=consume_challenge, issued=_record_device_identity)


@bp.route("/scep", methods=["GET", "POST"])
@csrf.exempt
def scep():
    return answer(DEVICE_IDENTITIES)
