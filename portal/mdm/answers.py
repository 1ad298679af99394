"""Answers written straight to WSGI: Werkzeug's Response costs more CPU than everything else in
building a hot path's answer (the command connection's, a DDM check-in's)."""
from __future__ import annotations

from collections.abc import Callable


class CommandAnswer:
    """The 200 answer on the command connection, the next command's plist or an empty body
    (nothing to deliver; no content type then), written straight to WSGI: Werkzeug's Response
    costs more CPU than everything else in building the answer."""

    __slots__ = ("body",)
    content_type = "application/xml"

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __call__(self, _environ: dict, start_response: Callable) -> list[bytes]:
        headers = [("Content-Length", str(len(self.body)))]
        if self.body:
            headers.append(("Content-Type", self.content_type))
        start_response("200 OK", headers)
        return [self.body]


class JsonAnswer(CommandAnswer):
    """A 200 with a JSON document (DDM check-ins)."""

    __slots__ = ()
    content_type = "application/json"
