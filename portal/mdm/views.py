"""Check-in and command connection: thin views over mdm_core and the device store.

Status codes: 400 malformed, 403 identity refused (never a bare 401: that unenrolls a phone),
403 with Apple's ``com.apple.unrecognized.device`` body for an enrollment we removed,
413 oversized, 415 wrong content type.
"""
from __future__ import annotations

import json
import logging

from flask import Response, request

from mdm_core import queue
from mdm_core.account_driven import bearer_token
from mdm_core.checkin import CheckinError, UnsupportedCheckinMessage, parse_checkin
from mdm_core.commands import ProtocolError, parse_command_report
from mdm_core.identity import IdentityError

from ..extensions import csrf
from . import bp, store
from .device_identity import signer_fingerprint

log = logging.getLogger(__name__)
CHECKIN_TYPE = "application/x-apple-aspen-mdm-checkin"
COMMAND_TYPE = "application/x-apple-aspen-mdm"


def refuse(status: int, reason: str, **context) -> Response:
    log.warning("MDM request refused: %s", reason, extra={"status": status, "path": request.path, **context})
    return Response(reason + "\n", status=status, mimetype="text/plain")


def unrecognized_device() -> Response:
    body = {"code": "com.apple.unrecognized.device",
            "description": "This enrollment was removed on the server.",
            "message": "Your organisation has removed this device's management."}
    return Response(json.dumps(body), status=403, mimetype="application/json")


def _signed_body(expected_type: str) -> tuple[bytes, str] | Response:
    """The body and the fingerprint of the device certificate that signed it, or the refusal."""
    if (request.mimetype or "").lower() != expected_type:
        return refuse(415, f"content type must be {expected_type}")
    body = request.get_data(cache=True)
    try:
        return body, signer_fingerprint(body)
    except IdentityError as exc:
        return refuse(403, f"device identity refused: {exc}")


def _refusal(outcome: store.Outcome, **context) -> Response | None:
    if outcome.removed:
        return unrecognized_device()
    if outcome.refusal:
        return refuse(outcome.status, outcome.refusal, **context)
    return None


@bp.put("/mdm/checkin")
@csrf.exempt
def checkin():
    signed = _signed_body(CHECKIN_TYPE)
    if isinstance(signed, Response):
        return signed
    body, fingerprint = signed
    try:
        message = parse_checkin(body)
    except UnsupportedCheckinMessage as exc:
        return refuse(400, str(exc))
    except CheckinError as exc:
        return refuse(400, f"malformed check-in: {exc}")
    outcome = store.handle_checkin(message, fingerprint, bearer_token(request.headers.get("Authorization")))
    return _refusal(outcome, identifier_type=message.enrollment_type) or Response(b"", status=200)


@bp.put("/mdm/connect")
@csrf.exempt
def connect():
    signed = _signed_body(COMMAND_TYPE)
    if isinstance(signed, Response):
        return signed
    body, fingerprint = signed
    try:
        report = parse_command_report(body)
    except ProtocolError as exc:
        return refuse(400, f"malformed command report: {exc}")
    outcome = store.handle_report(report, fingerprint, bearer_token(request.headers.get("Authorization")))
    return _refusal(outcome) or Response(queue.response_for(outcome.next_command), status=200,
                                         content_type="application/xml" if outcome.next_command else None)
