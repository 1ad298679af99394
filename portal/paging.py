"""Page size and position of the lists (devices, audit log, migration), read from request arguments one way."""
from __future__ import annotations

from typing import Mapping

from .ids import MAX_ID, parse_int

MAX_PAGE_SIZE = 500


def page_limit(args: Mapping[str, str], default: int, error: type[ValueError]) -> int:
    """The ``limit`` argument (``default`` when absent or empty), 1 to MAX_PAGE_SIZE; else raises ``error``."""
    text = args.get("limit")
    if not text:
        return default
    limit = parse_int(text, minimum=-MAX_ID, maximum=MAX_ID)
    if limit is None:
        raise error("limit must be a whole number")
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise error(f"limit must be between 1 and {MAX_PAGE_SIZE}")
    return limit


def id_cursor(args: Mapping[str, str], error: type[ValueError]) -> int | None:
    """The ``cursor`` of a list paged by id (a previous page's ``next``), or None; else raises ``error``."""
    cursor = args.get("cursor")
    if not cursor:
        return None
    position = parse_int(cursor, minimum=0, maximum=MAX_ID)
    if position is None:
        raise error("cursor must be the 'next' value of a previous page")
    return position
