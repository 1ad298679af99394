"""Check-in and command connection: thin handlers over mdm_core and the device store
(``checkin_store``, ``report``).

Status codes: 400 malformed, 403 identity refused (never a bare 401: that unenrolls a phone),
403 with Apple's ``com.apple.unrecognized.device`` body for an enrollment we removed,
413 oversized, 415 wrong content type. The store's refusals map to them in ``_REFUSAL_STATUS``.

Both handlers take a Werkzeug request and return a response, so the command connection can be
served without Flask's request dispatch (``portal.mdm.command_connection``) while check-in
stays an ordinary Flask view.
"""
from __future__ import annotations

import json
import logging

from flask import current_app, request as flask_request
from werkzeug.wrappers import Request, Response

from mdm_core import queue
from mdm_core.account_driven import bearer_token
from mdm_core.checkin import CheckinError, UnsupportedCheckinMessage, parse_checkin
from mdm_core.commands import ProtocolError, parse_command_report
from mdm_core.identity import IdentityError

from ..extensions import csrf, db
from ..request_body import bounded_body
from . import bp, declarative
from .answers import CommandAnswer
from .checkin_store import record_checkin
from .device_identity import signer_fingerprint
from .refusals import Refusal
from .report import record_report

log = logging.getLogger(__name__)
CHECKIN_TYPE = "application/x-apple-aspen-mdm-checkin"
COMMAND_TYPE = "application/x-apple-aspen-mdm"


def refuse(request: Request, status: int, reason: str, **context) -> Response:
    log.warning("MDM request refused: %s", reason, extra={"status": status, "path": request.path, **context})
    return Response(reason + "\n", status=status, mimetype="text/plain")


def unrecognized_device() -> Response:
    body = {"code": "com.apple.unrecognized.device",
            "description": "This enrollment was removed on the server.",
            "message": "Your organisation has removed this device's management."}
    return Response(json.dumps(body), status=403, mimetype="application/json")


def _signed_body(request: Request, expected_type: str) -> tuple[bytes, str] | Response:
    """The body and the fingerprint of the device certificate that signed it, or the refusal.

    A missing content type is accepted (the body is verified and parsed as a plist whatever it says).
    A body past the limit, chunked or not, is refused whole, not cut and then refused as badly signed."""
    if request.mimetype and request.mimetype != expected_type:
        return refuse(request, 415, f"content type must be {expected_type}")
    limit = request.max_content_length
    body = bounded_body(request, limit)
    if body is None:
        return refuse(request, 413, f"body larger than {limit} bytes")
    try:
        return body, signer_fingerprint(request.headers, body)
    except IdentityError as exc:
        return refuse(request, 403, f"device identity refused: {exc}")


#: The store's refusals that are not a 403: the request itself is wrong, whoever sends it.
_REFUSAL_STATUS = {Refusal.WRONG_TOPIC: 400, Refusal.COMMAND_NOT_SENT: 400}


def _refused(request: Request, refusal: Refusal, **context) -> Response:
    if refusal is Refusal.REMOVED:
        return unrecognized_device()
    return refuse(request, _REFUSAL_STATUS.get(refusal, 403), refusal.value, **context)


@bp.put("/mdm/checkin")
@csrf.exempt
def checkin():
    request = flask_request
    signed = _signed_body(request, CHECKIN_TYPE)
    if isinstance(signed, Response):
        return signed
    body, fingerprint = signed
    try:
        message = parse_checkin(body)
    except UnsupportedCheckinMessage as exc:
        return refuse(request, 400, str(exc))
    except CheckinError as exc:
        return refuse(request, 400, f"malformed check-in: {exc}")
    if message.message_type == "DeclarativeManagement":
        answered = declarative.answer(db.session.connection(), message, fingerprint,
                                      bearer_token(request.headers.get("Authorization")))
        db.session.commit()  # a status report's writes (a refusal wrote nothing)
        return _refused(request, answered) if isinstance(answered, Refusal) else answered
    refusal = record_checkin(message, fingerprint, bearer_token(request.headers.get("Authorization")))
    if refusal is not None:
        return _refused(request, refusal, identifier_type=message.enrollment_type)
    return Response(b"", status=200)


def connect(request: Request) -> Response | CommandAnswer:
    """``PUT /mdm/connect``: record the device's report, answer with its next command or nothing."""
    request.max_content_length = current_app.config["MAX_CONTENT_LENGTH"]
    signed = _signed_body(request, COMMAND_TYPE)
    if isinstance(signed, Response):
        return signed
    body, fingerprint = signed
    try:
        report = parse_command_report(body)
    except ProtocolError as exc:
        return refuse(request, 400, f"malformed command report: {exc}")
    outcome = record_report(report, fingerprint, bearer_token(request.headers.get("Authorization")))
    if outcome.__class__ is Refusal:
        return _refused(request, outcome)
    return CommandAnswer(queue.response_for(outcome))
