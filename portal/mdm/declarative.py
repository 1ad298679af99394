"""The ``DeclarativeManagement`` check-in message and the URLs its declarations name: DDM's device endpoints.

The check-in view (``views.checkin``), or in front of Flask ``declarative_connection``, hands the parsed
message here after verifying its signature;
the device is pinned exactly as for other check-ins (``pinning``), read with its DDM row in one
statement, and the ``Endpoint`` answered by ``portal.declarations.endpoint``. Answers are JSON.
Refusals: the pin rule's (as other check-ins), 400 for a bad endpoint or status report, 404 for a
declaration not in this enrollment's set or an enrollment not managed declaratively.

A credential asset's ``DataURL`` (``Authentication`` ``MDM``) is fetched as an MDM request: a GET whose empty
body the device signs (``Mdm-Signature``, or the proxy's client certificate), with an account-driven
enrollment's bearer token; the enrolled device holding that certificate is found and the pin rule applied.
403 when no enrollment proves itself so, 404 when its set does not hold the asset.
"""
from __future__ import annotations

import json
import logging
from functools import cache

from flask import request
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from mdm_core.account_driven import bearer_token
from mdm_core.checkin import CheckinMessage
from mdm_core.ddm import DdmError
from mdm_core.ddm.documents import parse_endpoint
from mdm_core.ddm.status import parse_status_report
from mdm_core.identity import IdentityError

from ..declarations import endpoint as answers
from ..declarations.credentials import NotServed, credential_for
from ..declarations.served import asset_for, profile_for
from ..declarations.status import store
from ..extensions import db
from ..models import DdmEnrollment, Device
from ..models.base import utcnow
from ..models.device import DeviceStatus
from . import bp, pinning
from .answers import JsonAnswer
from .device_identity import signer_fingerprint
from .refusals import Refusal
from .statements import identifier_column

log = logging.getLogger(__name__)
_READS = {"tokens": answers.tokens, "declaration-items": answers.manifest}
_devices = Device.__table__
_ddm = DdmEnrollment.__table__


def _error(status: int, reason: str) -> Response:
    log.warning("DDM request refused: %s", reason, extra={"status": status})
    return Response(json.dumps({"error": reason}), status=status, mimetype="application/json")


def _json(document: dict) -> JsonAnswer:
    return JsonAnswer(json.dumps(document, separators=(",", ":")).encode())


@cache
def _device_row(enrollment_type: str) -> Select:
    """The device a check-in names with its ``ddm_enrollments`` row (NULLs when DDM is off): a Core
    statement built once (building it, and the ORM's handling of an ORM statement, cost more than running it)."""
    return (select(_devices.c.id, _devices.c.certificate_fingerprint, _devices.c.status, _devices.c.access_token_hash,
                   _ddm.c.device_id.label("ddm"), _ddm.c.declarations_token, _ddm.c.stale, _ddm.c.token_changed_at,
                   _ddm.c.enabled_at)
            .select_from(_devices.outerjoin(_ddm, _ddm.c.device_id == _devices.c.id))
            .where(identifier_column(enrollment_type) == bindparam("identifier")))


def answer(session: Session, message: CheckinMessage, fingerprint: str,
           access_token: str | None) -> Response | JsonAnswer | Refusal:
    """Serve one DeclarativeManagement message; a Refusal when the pin rule refuses the request."""
    row = session.execute(_device_row(message.enrollment_type), {"identifier": message.identifier}).first()
    refusal = pinning.refusal(row, fingerprint, access_token)
    if refusal is not None:
        return refusal
    if row.ddm is None:
        return _error(404, "this enrollment is not managed declaratively (user enrollments on iOS 15 or later are)")
    try:
        endpoint = parse_endpoint(message.endpoint)
    except DdmError as exc:
        return _error(400, str(exc))
    device = answers.DdmDevice(row.id, row.declarations_token, row.stale, row.token_changed_at, row.enabled_at)
    if endpoint.name == "status":
        return _status(session, device, message.data)
    try:
        if endpoint.name == "declaration":
            return _json(answers.declaration(session, device, endpoint))
        return _json(_READS[endpoint.name](session, device))
    except answers.NotInSet as exc:
        return _error(404, str(exc))


def _status(session: Session, device: answers.DdmDevice, data: bytes | None) -> Response:
    if not data:
        return _error(400, "a status report needs Data: the report's JSON")
    try:
        report = parse_status_report(data)
    except DdmError as exc:
        return _error(400, f"malformed status report: {exc}")
    store(session, device.id, report, utcnow())
    session.commit()
    return Response(b"", status=200)


def _credential() -> tuple[int, str] | None:
    """The device id and key a served URL carries."""
    device_id, key = request.args.get("device", ""), request.args.get("key", "")
    if not device_id.isascii() or not device_id.isdigit() or len(device_id) > 12 or not key:
        return None
    return int(device_id), key


@bp.get("/mdm/ddm/legacy/<identifier>")
def legacy_profile(identifier: str):
    """The profile a legacy-profile declaration wraps, for the device whose credential the URL carries."""
    credential = _credential()
    signed = profile_for(db.session, identifier, *credential) if credential else None
    if signed is None:
        return _error(404, "no such profile")
    return Response(signed, status=200, mimetype="application/x-apple-aspen-config")


@bp.get("/mdm/ddm/assets/<identifier>")
def served_asset(identifier: str):
    """A data or certificate asset's bytes, for the device whose credential the URL carries."""
    credential = _credential()
    found = asset_for(db.session, identifier, *credential) if credential else None
    if found is None:
        return _error(404, "no such asset")
    data, content_type = found
    return Response(data, status=200, content_type=content_type,
                    headers={"Content-Disposition": "attachment", "X-Content-Type-Options": "nosniff"})


#: The enrolled devices that hold a certificate (one, unless an identity was reused).
_BY_CERTIFICATE = (select(_devices.c.id, _devices.c.certificate_fingerprint, _devices.c.status,
                          _devices.c.access_token_hash)
                   .where(_devices.c.certificate_fingerprint == bindparam("fingerprint"),
                          _devices.c.status == DeviceStatus.ENROLLED))


@bp.get("/mdm/ddm/credentials/<identifier>")
def served_credential(identifier: str):
    """A credential asset's JSON, for the enrolled device whose MDM identity signs the request."""
    try:
        fingerprint = signer_fingerprint(request.headers, b"")
    except IdentityError as exc:
        return _error(403, f"device identity refused: {exc}")
    access_token = bearer_token(request.headers.get("Authorization"))
    rows = db.session.execute(_BY_CERTIFICATE, {"fingerprint": fingerprint}).all()
    proven = [row.id for row in rows if pinning.refusal(row, fingerprint, access_token) is None]
    if len(proven) != 1:
        return _error(403, "no single enrollment proves this device identity")
    try:
        document = credential_for(db.session, identifier, proven[0])
    except NotServed as exc:
        return _error(404, str(exc))
    return Response(document, status=200, mimetype="application/json",
                    headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
