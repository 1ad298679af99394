"""The ``DeclarativeManagement`` check-in message and the URLs its declarations name: DDM's device endpoints.

The check-in view (``views.checkin``), or in front of Flask ``declarative_connection``, hands the parsed
message here after verifying its signature; the device is pinned exactly as for other check-ins
(``pinning``). A request is one statement (``declarative_statements``): the device with its DDM row and the
answer stored for the endpoint (``portal.declarations.documents``), served as it is; what is not stored
(a stale set, a declaration filled in per device) is computed by ``portal.declarations.endpoint``. On
PostgreSQL a status report is stored by that one statement too. Answers are JSON.
Refusals: the pin rule's (as other check-ins), 400 for a bad endpoint or status report, 404 for a
declaration not in this enrollment's set or an enrollment not managed declaratively.

The ``DataURL`` of an asset this server serves (credential, data, certificate; ``Authentication`` ``MDM``) is
fetched as an MDM request: a GET whose empty body the device signs (``Mdm-Signature``, or the proxy's client
certificate), with an account-driven enrollment's bearer token; the enrolled device holding that certificate is
found and the pin rule applied (``_proven_device``). 403 when no enrollment proves itself so, 404 when its set
does not hold the asset.
"""
from __future__ import annotations

import json
import logging

from flask import request
from sqlalchemy import Connection, bindparam, select
from werkzeug.wrappers import Response

from mdm_core.account_driven import bearer_token, hash_access_token
from mdm_core.checkin import CheckinMessage
from mdm_core.ddm import DdmError
from mdm_core.ddm.documents import Endpoint, parse_endpoint
from mdm_core.ddm.status import StatusReport, parse_status_report
from mdm_core.identity import IdentityError

from ..declarations import endpoint as answers
from ..declarations import generated
from ..declarations.credentials import NotServed, credential_for
from ..declarations.documents import serialized, subscriptions_document
from ..declarations.served import asset_for, keyed_asset_for, profile_for
from ..declarations.status import changed_lists, list_values, log_dropped, report_values, store
from ..extensions import db
from ..inventory.facts import TOLD_STATUS_COLUMNS, mirrored_changes
from ..inventory.history import MAX_CHANGES_PER_DEVICE, TRIM_CHANGES, record_fact_changes
from ..models import Device
from ..models.base import utcnow
from ..models.device import DeviceStatus
from . import bp, pinning
from . import declarative_statements as statements
from .answers import CommandAnswer, JsonAnswer
from .declarative_statements import DDM, DECLARATION, STALE, STORED
from .device_identity import signer_fingerprint
from .refusals import Refusal
from .statements import DEVICE, DeviceRow

log = logging.getLogger(__name__)
#: The stored answer each endpoint reads (``declarative_statements.read``); a declaration's is chosen by identifier.
_STORED_ANSWER = {"tokens": "tokens", "declaration-items": "declaration-items", "status": "device"}
_COMPUTED = {"tokens": answers.tokens, "declaration-items": answers.manifest}
_devices = Device.__table__
_NOT_DECLARATIVE = "this enrollment is not managed declaratively (user enrollments on iOS 15 or later are)"


def _error(status: int, reason: str) -> Response:
    log.warning("DDM request refused: %s", reason, extra={"status": status})
    return Response(json.dumps({"error": reason}), status=status, mimetype="application/json")


def _json(document: dict) -> JsonAnswer:
    return JsonAnswer(serialized(document).encode())


def _stored_answer(endpoint: Endpoint | None) -> str:
    if endpoint is None:
        return "device"
    if endpoint.name != "declaration":
        return _STORED_ANSWER[endpoint.name]
    if endpoint.identifier == generated.ACTIVATION and endpoint.kind == "activation":
        return "activation"
    return "device" if generated.is_generated(endpoint.identifier) else "declaration"


def answer(connection: Connection, message: CheckinMessage, fingerprint: str,
           access_token: str | None) -> Response | CommandAnswer | Refusal:
    """Serve one DeclarativeManagement message; a Refusal when the pin rule refuses the request. Statements
    run on ``connection`` as they come (the caller's transaction, or outside one on PostgreSQL)."""
    try:
        endpoint = parse_endpoint(message.endpoint)
    except DdmError as exc:
        endpoint, malformed = None, str(exc)
    values = {"identifier": message.identifier}
    if endpoint is not None and endpoint.name == "status" and connection.dialect.name == "postgresql":
        report = _status_report(message.data)
        if report.__class__ is StatusReport:
            return _status_exchange(connection, message, values, report, fingerprint, access_token)
    stored = _stored_answer(endpoint)
    if stored == "declaration":
        values.update(kind=endpoint.kind, declaration=endpoint.identifier)
    row = statements.read(message.enrollment_type, stored).first(connection, values)
    refusal = pinning.refusal(row and DeviceRow(*row[DEVICE]), fingerprint, access_token)
    if refusal is not None:
        return refusal
    if row[DDM] is None:
        return _error(404, _NOT_DECLARATIVE)
    if endpoint is None:
        return _error(400, malformed)
    device_id = row[DEVICE][0]
    if endpoint.name == "status":
        return _status(connection, device_id, message.data)
    if stored in ("tokens", "declaration-items", "activation") and row[STORED] is not None and not row[STALE]:
        return JsonAnswer(row[STORED].encode())
    try:
        if endpoint.name != "declaration":
            return _json(_COMPUTED[endpoint.name](connection, device_id))
        if endpoint.identifier == generated.SUBSCRIPTIONS and endpoint.kind == "configuration":
            return JsonAnswer(subscriptions_document())
        if stored == "declaration" and row[STORED] is not None:
            return JsonAnswer(row[STORED].encode())
        if stored == "declaration" and row[DECLARATION] is None:
            raise answers.NotInSet(f"no {endpoint.kind} {endpoint.identifier} in this enrollment's set")
        return _json(answers.declaration(connection, device_id, endpoint))
    except answers.NotInSet as exc:
        return _error(404, str(exc))


def _status_report(data: bytes | None) -> StatusReport | Response:
    if not data:
        return _error(400, "a status report needs Data: the report's JSON")
    try:
        return parse_status_report(data)
    except DdmError as exc:
        return _error(400, f"malformed status report: {exc}")


def _status(connection: Connection, device_id: int, data: bytes | None) -> Response | CommandAnswer:
    report = _status_report(data)
    if report.__class__ is not StatusReport:
        return report
    store(connection, device_id, report, utcnow())
    return CommandAnswer(b"")  # an empty 200, as the command connection answers an empty queue


def _status_exchange(connection: Connection, message: CheckinMessage, values: dict, report: StatusReport,
                     fingerprint: str, access_token: str | None) -> Response | CommandAnswer | Refusal:
    """PostgreSQL: the report stored by one statement, which writes only for a request the pin rule lets through."""
    written = report_values(report)
    now = utcnow()
    errors = None if written["errors"] is None else json.dumps(written["errors"])  # none: SQL NULL, not JSON null
    values.update(written, rows=json.dumps(written["rows"]), errors=errors, now=now,
                  fingerprint=fingerprint, token_hash=None if access_token is None else hash_access_token(access_token))
    row = statements.status_exchange(message.enrollment_type).first(connection, values)
    refusal = pinning.refusal(row and DeviceRow(*row[DEVICE]), fingerprint, access_token)
    if refusal is not None:
        return refusal
    if row[DDM] is None:
        return _error(404, _NOT_DECLARATIVE)
    device_id = row[DEVICE][0]
    if not report.full_report and (report.errors or row[statements.HAD_ERRORS]):
        statements.MERGE_ERRORS.first(connection, {"device_id": device_id, "errors": errors,
                                                   "covered": written["covered"]})
    record_fact_changes(connection, device_id, now, mirrored_changes(
        dict(zip(TOLD_STATUS_COLUMNS, row[statements.TOLD])), written))
    # each statement is atomic and keeps its list's digest: a report sent again (after an error here) writes what
    # it did not write before
    for status_list, digest in changed_lists(report, {kind: row[at] for kind, at in statements.DIGESTS.items()}):
        kind = status_list.kind
        changes, _ = statements.status_list_exchange(kind).first(connection, {
            "device_id": device_id, "now": now, "digest": digest, **list_values(kind, status_list.read(report))})
        if changes > MAX_CHANGES_PER_DEVICE:
            TRIM_CHANGES.first(connection, {"device_id": device_id})
    log_dropped(device_id, report)
    return CommandAnswer(b"")  # an empty 200, as the command connection answers an empty queue


def _credential() -> tuple[int, str] | None:
    """The device id and key a served URL carries (a key is hex: a non-ASCII one was a TypeError in
    ``hmac.compare_digest``, a 500)."""
    device_id, key = request.args.get("device", ""), request.args.get("key", "")
    if not device_id.isascii() or not device_id.isdigit() or len(device_id) > 12 or not key or not key.isascii():
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
    """A data or certificate asset's bytes, for the enrolled device whose MDM identity signs the request; or, at
    the per-device URL an asset declared before ``Authentication`` ``MDM`` named, for the device it names."""
    if "device" in request.args or "key" in request.args:
        credential = _credential()
        found = keyed_asset_for(db.session, identifier, *credential) if credential else None
        log.info("DDM asset fetched at its per-device URL", extra={"asset": identifier, "served": found is not None})
    else:
        device_id = _proven_device()
        if isinstance(device_id, Response):
            return device_id
        found = asset_for(db.session, identifier, device_id)
    if found is None:
        return _error(404, f"no asset {identifier} in this enrollment's set")
    data, content_type = found
    return Response(data, status=200, content_type=content_type, headers={
        "Content-Disposition": "attachment", "Cache-Control": "private", "X-Content-Type-Options": "nosniff"})


#: The enrolled devices that hold a certificate (one, unless an identity was reused).
_BY_CERTIFICATE = (select(_devices.c.id, _devices.c.certificate_fingerprint, _devices.c.status,
                          _devices.c.access_token_hash)
                   .where(_devices.c.certificate_fingerprint == bindparam("fingerprint"),
                          _devices.c.status == DeviceStatus.ENROLLED))


def _proven_device() -> int | Response:
    """The id of the enrolled device whose MDM identity makes this GET (a URL a declaration names with
    ``Authentication`` ``MDM``), or the 403 answer when no single enrollment proves itself so."""
    try:
        fingerprint = signer_fingerprint(request.headers, b"")
    except IdentityError as exc:
        return _error(403, f"device identity refused: {exc}")
    access_token = bearer_token(request.headers.get("Authorization"))
    rows = db.session.execute(_BY_CERTIFICATE, {"fingerprint": fingerprint}).all()
    proven = [row.id for row in rows if pinning.refusal(row, fingerprint, access_token) is None]
    if len(proven) != 1:
        return _error(403, "no single enrollment proves this device identity")
    return proven[0]


@bp.get("/mdm/ddm/credentials/<identifier>")
def served_credential(identifier: str):
    """A credential asset's JSON, for the enrolled device whose MDM identity signs the request."""
    device_id = _proven_device()
    if isinstance(device_id, Response):
        return device_id
    try:
        document = credential_for(db.session, identifier, device_id)
    except NotServed as exc:
        return _error(404, str(exc))
    return Response(document, status=200, mimetype="application/json",
                    headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
