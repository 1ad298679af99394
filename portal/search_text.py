"""Search parameters every database can compare: PostgreSQL's text type refuses NUL (a psycopg
DataError, so a 500), and no database takes a lone surrogate, which UTF-8 cannot encode."""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from werkzeug.routing import BaseConverter

#: C0 and C1 control characters: never part of a name or an identifier a page shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def searchable(text: str) -> bool:
    """Whether ``text`` can be bound as a query parameter on every database."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def single_line(text: str) -> bool:
    """Whether ``text`` can be stored (``searchable``) and holds no control character: a name or identifier."""
    return searchable(text) and not _CONTROL.search(text)


def text_parameter_problem(args: Mapping[str, Any], names: Iterable[str]) -> str | None:
    """Why one of the ``names`` in ``args`` cannot be searched for, or None when all can."""
    for name in names:
        value = args.get(name)
        if isinstance(value, str) and not searchable(value):
            return f"{name} must not contain a NUL character or an unpaired surrogate"
    return None


class KeyConverter(BaseConverter):
    """``<key:name>`` in a route: a path segment every database can compare (no NUL), else the route does not match
    (404). A URL cannot carry a lone surrogate: the path is decoded with replacement characters."""

    regex = "[^/\x00]+"
