"""Search parameters every database can compare: PostgreSQL's text type refuses NUL (a psycopg
DataError, so a 500), and no database takes a lone surrogate, which UTF-8 cannot encode."""
from __future__ import annotations

from typing import Any, Iterable, Mapping


def text_parameter_problem(args: Mapping[str, Any], names: Iterable[str]) -> str | None:
    """Why one of the ``names`` in ``args`` cannot be searched for, or None when all can."""
    for name in names:
        value = args.get(name)
        if not isinstance(value, str):
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{name} must not contain unpaired surrogate characters"
        if "\x00" in value:
            return f"{name} must not contain a NUL character"
    return None
