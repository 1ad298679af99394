"""Error answers: JSON for /api/ and device endpoints' callers, HTML pages for browsers, never a trace."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, DisconnectionError
from werkzeug.exceptions import HTTPException

from .database.outage import MESSAGE, RETRY_AFTER_SECONDS, is_outage, unavailable_text

log = logging.getLogger(__name__)


SCIM_PREFIX = "/scim/"
SCIM_CONTENT_TYPE = "application/scim+json"


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/.well-known/", SCIM_PREFIX))


def scim_error(status: int, detail: str, scim_type: str | None = None):
    """A SCIM error (RFC 7644 section 3.12): the directory's client reads ``status`` and ``scimType``."""
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    response = jsonify(body)
    response.status_code = status
    response.content_type = SCIM_CONTENT_TYPE
    return response


def api_error(status: int, error: str, detail=None):
    if request.path.startswith(SCIM_PREFIX):
        return scim_error(status, detail if isinstance(detail, str) else error)
    response = jsonify({"error": error, "detail": detail})
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        if wants_json():
            return api_error(400, "csrf_failed", exc.description)
        return render_template("errors/error.html", code=400, title="Form expired or forged",
                               message="This form could not be accepted because its security token was missing or expired. Go back, reload the page and try again."), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if wants_json():
            return api_error(exc.code or 500, (exc.name or "error").lower().replace(" ", "_"), exc.description)
        return render_template("errors/error.html", code=exc.code, title=exc.name, message=exc.description), exc.code

    @app.errorhandler(DBAPIError)
    @app.errorhandler(DisconnectionError)
    def database_error(exc: Exception):
        if not is_outage(exc):
            return unhandled(exc)
        log.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
        if request.blueprint == "mdm":  # devices: check-in and SCEP
            return unavailable_text()
        if wants_json():
            response = api_error(503, "service_unavailable", MESSAGE)
        else:  # without the context processors: Flask-Login's would load the signed-in admin from the database
            page = app.jinja_env.get_template("errors/error.html").render(code=503, title="Service Unavailable",
                                                                          message=MESSAGE)
            response = app.response_class(page, status=503, mimetype="text/html")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(Exception)
    def unhandled(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return api_error(500, "internal_error", "The server hit an unexpected error; it has been logged.")
        return render_template("errors/error.html", code=500, title="Internal Server Error",
                               message="The server hit an unexpected error; it has been logged."), 500
