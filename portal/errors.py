"""Error answers: JSON for /api/ and device endpoints' callers, HTML pages for browsers, never a trace."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, DisconnectionError
from werkzeug.exceptions import HTTPException

from .database.outage import MESSAGE, RETRY_AFTER_SECONDS, is_outage, unavailable_text
from .i18n import DEFAULT_LANGUAGE, browser_language

log = logging.getLogger(__name__)
UNEXPECTED = _l("The server hit an unexpected error; it has been logged.")
#: Titles and default explanations of the errors employees meet, in their language (a view's own
#: description, already translated where employees see it, is kept).
HTTP_TITLES = {400: _l("Bad Request"), 403: _l("Forbidden"), 404: _l("Not Found"), 405: _l("Method Not Allowed"),
               409: _l("Conflict"), 413: _l("Request Entity Too Large"), 422: _l("Unprocessable Entity"),
               429: _l("Too Many Requests")}
HTTP_DEFAULT_MESSAGES = {
    400: _l("The request could not be understood. Go back and try again."),
    403: _l("You are not allowed to open this page."),
    404: _l("This page does not exist. Check the address, or start again from the enrollment page."),
    405: _l("This page cannot be opened that way. Go back and try again."),
    409: _l("This conflicts with something that changed meanwhile. Reload the page and try again."),
    413: _l("What was sent is too large."),
    422: _l("What was sent cannot be processed."),
    429: _l("Too many requests. Wait a moment and try again."),
}


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
        return render_template("errors/error.html", code=400, title=gettext("Form expired or forged"),
                               message=gettext("This form could not be accepted because its security token was "
                                               "missing or expired. Go back, reload the page and try again.")), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if wants_json():
            return api_error(exc.code or 500, (exc.name or "error").lower().replace(" ", "_"), exc.description)
        own = exc.description != type(exc).description  # a view's message, not Werkzeug's English default
        message = exc.description if own else HTTP_DEFAULT_MESSAGES.get(exc.code, exc.description)
        return render_template("errors/error.html", code=exc.code, title=HTTP_TITLES.get(exc.code, exc.name),
                               message=message), exc.code

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
            # the locale selector would read the organisation's language from the database
            with force_locale(browser_language() or DEFAULT_LANGUAGE):
                page = app.jinja_env.get_template("errors/error.html").render(
                    code=503, title=gettext("Service Unavailable"),
                    message=gettext("The database is unavailable; retry later."))
            response = app.response_class(page, status=503, mimetype="text/html")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(Exception)
    def unhandled(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return api_error(500, "internal_error", "The server hit an unexpected error; it has been logged.")
        return render_template("errors/error.html", code=500, title=gettext("Internal Server Error"),
                               message=UNEXPECTED), 500
