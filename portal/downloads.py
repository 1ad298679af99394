"""The ``Content-Disposition`` of a download, sendable by every WSGI server whatever the name's letters.

PEP 3333 header values are ISO-8859-1 (gunicorn encodes them so: one letter past U+00FF is a 500), so the
plain ``filename`` keeps ASCII letters, digits and ``._-`` only; a name with other letters also goes as
RFC 6266 / RFC 5987 ``filename*`` in UTF-8, which browsers prefer when they read it.
"""
from __future__ import annotations

import re
from urllib.parse import quote

_NOT_ASCII_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_NOT_NAME = re.compile(r"[^\w.-]+")  # \w: letters and digits of every script


def attachment(stem: str, extension: str = "") -> str:
    """``attachment; filename="..."`` for ``stem`` + ``extension`` (e.g. ``.mobileconfig``): each run of
    other characters is one ``_`` in the plain name; letters of other scripts are kept in ``filename*``."""
    plain, full = _NOT_ASCII_NAME.sub("_", stem) + extension, _NOT_NAME.sub("_", stem) + extension
    header = f'attachment; filename="{plain}"'
    if full != plain:
        header += f"; filename*=UTF-8''{quote(full, safe='')}"
    return header
