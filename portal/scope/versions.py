"""OS versions compared as numbers in SQL ("17.10" is after "17.9"), on SQLite and PostgreSQL alike.

``os_version_key(column)`` is major * 10^6 + minor * 10^3 + patch, computed in the statement;
``version_key(text)`` is the same number in Python, for the bounds. A part that is not a number
counts as 0; NULL stays NULL, so a device that reported no version matches no version range.
"""
from __future__ import annotations

import re

from sqlalchemy import BigInteger
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

VERSION = re.compile(r"^\d{1,3}(\.\d{1,3}){0,2}$")


def version_key(text: str) -> int:
    """The number ``os_version_key`` gives a version such as ``17.5.1`` (checked with ``VERSION`` first)."""
    parts = [int(part) for part in text.split(".")] + [0, 0]
    return parts[0] * 1_000_000 + parts[1] * 1_000 + parts[2]


class os_version_key(FunctionElement):  # noqa: N801 (an SQL function's name)
    type = BigInteger()
    inherit_cache = True


@compiles(os_version_key)
def _sqlite(element, compiler, **kw):
    # SQLite's CAST reads the leading digits of a text ("5.1" -> 5), so each part is the text after a dot.
    column = compiler.process(list(element.clauses)[0], **kw)
    rest = f"substr({column}, instr({column}, '.') + 1)"
    minor = f"(CASE WHEN instr({column}, '.') > 0 THEN CAST({rest} AS INTEGER) ELSE 0 END)"
    patch = (f"(CASE WHEN instr({column}, '.') > 0 AND instr({rest}, '.') > 0 "
             f"THEN CAST(substr({rest}, instr({rest}, '.') + 1) AS INTEGER) ELSE 0 END)")
    return f"(CAST({column} AS INTEGER) * 1000000 + {minor} * 1000 + {patch})"


@compiles(os_version_key, "postgresql")
def _postgresql(element, compiler, **kw):
    column = compiler.process(list(element.clauses)[0], **kw)

    def part(n: int) -> str:
        # the n-th part's leading digits (at most 6: the sum fits a bigint whatever a device sends), else 0
        return f"COALESCE(NULLIF(substring(split_part({column}, '.', {n}) from '^[0-9]{{1,6}}'), '')::bigint, 0)"

    return f"(CASE WHEN {column} IS NULL THEN NULL ELSE {part(1)} * 1000000 + {part(2)} * 1000 + {part(3)} END)"
