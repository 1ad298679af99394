"""The command connection (``PUT /mdm/connect``) served in front of Flask's dispatch.

Every enrolled device hits this URL after every push and again after every command, so it is
the one request whose CPU cost multiplies with the fleet. Flask's request context, routing,
session handling and hooks cost as much as the protocol work itself, and this endpoint needs
none of them: it reads a signed plist, runs one short transaction and answers with a plist.
It runs inside an application context (configuration, database session) on a plain Werkzeug
request; every other path goes on to Flask, but for DeclarativeManagement check-ins
(``declarative_connection``). Its answers carry the app's security headers too.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from flask import Flask
from werkzeug.wrappers import Request, Response

from mdm_core.enrollment_profiles import CHECKIN_PATH, SERVER_PATH

from ..database.kept import kept_connections
from ..database.outage import is_outage, unavailable_text
from . import declarative_connection
from .views import connect

log = logging.getLogger(__name__)
WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


class CommandConnection:
    """WSGI middleware answering the command URL; every other path goes to ``next_app``."""

    def __init__(self, app: Flask, next_app: WSGIApp, headers: list[tuple[str, str]]) -> None:
        self.app = app
        self.next_app = next_app
        self.headers = headers  # the security headers, added to every answer as they are

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        extra = self.headers

        def start_response_with_headers(status: str, headers: list, exc_info=None):
            return start_response(status, headers + extra, exc_info)

        if environ.get("PATH_INFO") != SERVER_PATH:
            if environ.get("PATH_INFO") == CHECKIN_PATH and environ.get("REQUEST_METHOD") == "PUT":
                served = declarative_connection.serve(self.app, environ, start_response_with_headers)
                if served is not None:
                    return served
            return self.next_app(environ, start_response)

        if environ.get("REQUEST_METHOD") != "PUT":
            return Response("the command connection takes PUT\n", status=405, headers={"Allow": "PUT"},
                            mimetype="text/plain")(environ, start_response_with_headers)
        request = Request(environ, populate_request=False)  # no request <-> environ cycle to collect
        with self.app.app_context():
            try:
                response = connect(request)
            except Exception as error:  # the device retries on its next connect
                if is_outage(error, kept_connections().engine):
                    log.warning("database unavailable on PUT %s: %s", SERVER_PATH, error)
                    response = unavailable_text()
                else:
                    log.exception("unhandled error on PUT %s", SERVER_PATH)
                    response = Response("internal error; it has been logged\n", status=500, mimetype="text/plain")
        return response(environ, start_response_with_headers)
