"""Numbers from untrusted text and JSON, checked once so no handler turns "²" or 10**30 into a 500.

``str.isdigit()`` is true for "²", which ``int()`` refuses; ``int()`` accepts " 7", "1_000" and
Arabic-Indic digits; and a number past 2**63 - 1 overflows every database integer column.
"""
from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter

#: The largest id a BIGINT (PostgreSQL) or INTEGER (SQLite) column holds.
MAX_ID = 2**63 - 1
_MAX_DIGITS = 20  # enough for 2**64 - 1; longer text is refused before int() does any work


def parse_int(value: Any, *, minimum: int, maximum: int) -> int | None:
    """The integer ``value`` spells in ASCII digits (a leading "-" only when ``minimum`` < 0) within
    ``minimum``..``maximum``; None for anything else."""
    if not isinstance(value, str):
        return None
    digits = value[1:] if minimum < 0 and value.startswith("-") else value
    if not digits or len(digits) > _MAX_DIGITS or not (digits.isascii() and digits.isdigit()):
        return None
    number = int(value)
    return number if minimum <= number <= maximum else None


def parse_id(value: Any) -> int | None:
    """A row id from text (form field, query argument): ASCII digits, 1 <= id <= MAX_ID; else None."""
    return parse_int(value, minimum=1, maximum=MAX_ID)


def json_id(value: Any) -> int | None:
    """A row id from decoded JSON: an integer (not a boolean) with 1 <= id <= MAX_ID; else None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        return None
    return value


def json_ids(values: Any) -> list[int] | None:
    """A JSON list of row ids, or None if it is not a list or any element is not an id."""
    if not isinstance(values, list):
        return None
    ids = [json_id(value) for value in values]
    return None if None in ids else ids


class IdConverter(IntegerConverter):
    """``<id:name>`` in a route: ASCII digits for an id a database can hold, else the route does not match (404)."""

    regex = r"[0-9]{1,19}"

    def __init__(self, map, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, min=1, max=MAX_ID)
