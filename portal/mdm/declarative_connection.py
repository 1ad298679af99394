"""``DeclarativeManagement`` check-ins served in front of Flask's dispatch, as the command connection is.

A DDM device sends several check-ins per sync (tokens, manifest, each changed declaration, status),
so they cost what an idle connect costs only without Flask's request context, routing and hooks
and without a pool check-out and its ping: here the request runs on a kept connection
(``portal.database.retry``), through ``declarative.answer``; on PostgreSQL outside a transaction block,
as the idle connect does (a request served from what is stored, a status report's included, is one
statement). Only a check-in with a length, within the size limit, whose plist is a DeclarativeManagement
message is served here; for anything else the body is put back and Flask's check-in view answers as always
(a chunked DDM check-in included).
"""
from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable

from flask import Flask
from sqlalchemy import Connection
from werkzeug.wrappers import Request, Response

from mdm_core.account_driven import bearer_token
from mdm_core.checkin import CheckinError, CheckinMessage, parse_checkin
from mdm_core.identity import IdentityError

from ..database.driver import autocommit
from ..database.kept import kept_connections
from ..database.outage import is_outage, unavailable_text
from ..database.retry import retried_on_disconnect
from . import declarative
from .device_identity import signer_fingerprint
from .refusals import Refusal
from .views import CHECKIN_TYPE, _refused, refuse

log = logging.getLogger(__name__)
_MARK = b"DeclarativeManagement"


def _declarative_message(app: Flask, environ: dict) -> tuple[bytes, CheckinMessage] | None:
    """The body and message of a DDM check-in this path serves; None otherwise (the body is put back)."""
    length = environ.get("CONTENT_LENGTH") or ""
    if not length.isdigit() or int(length) > app.config["MAX_CONTENT_LENGTH"] or environ.get("HTTP_TRANSFER_ENCODING"):
        return None
    body = environ["wsgi.input"].read(int(length))
    environ["wsgi.input"] = io.BytesIO(body)
    if _MARK not in body:  # a binary plist holds the string too: a cheap test before parsing
        return None
    try:
        message = parse_checkin(body)
    except CheckinError:
        return None
    return (body, message) if message.message_type == "DeclarativeManagement" else None


def serve(app: Flask, environ: dict, start_response: Callable) -> Iterable[bytes] | None:
    """Answer a DDM check-in; None when Flask should answer this request."""
    found = _declarative_message(app, environ)
    if found is None:
        return None
    body, message = found
    request = Request(environ, populate_request=False)
    if request.mimetype and request.mimetype != CHECKIN_TYPE:
        return None
    with app.app_context():
        try:
            response = _answer(request, body, message)
        except Exception as error:  # the device retries its request
            if is_outage(error, kept_connections().engine):
                log.warning("database unavailable on a DeclarativeManagement check-in: %s", error)
                response = unavailable_text()
            else:
                log.exception("unhandled error on a DeclarativeManagement check-in")
                response = Response("internal error; it has been logged\n", status=500, mimetype="text/plain")
    return response(environ, start_response)


def _answer(request: Request, body: bytes, message: CheckinMessage) -> Response:
    try:
        fingerprint = signer_fingerprint(request.headers, body)
    except IdentityError as exc:
        return refuse(request, 403, f"device identity refused: {exc}")
    token = bearer_token(request.headers.get("Authorization"))

    def work(connection: Connection) -> Response | Refusal:
        if connection.dialect.name != "postgresql":
            with connection.begin():
                return declarative.answer(connection, message, fingerprint, token)
        with autocommit(connection):  # one statement each, a status report's too: no BEGIN and COMMIT round trips
            return declarative.answer(connection, message, fingerprint, token)

    answered = retried_on_disconnect(kept_connections(), work)
    return _refused(request, answered) if isinstance(answered, Refusal) else answered
