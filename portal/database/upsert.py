"""INSERT ... ON CONFLICT for the session's database: "insert once" without a race between check and insert."""
from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def insert_once(table: Table, rows: dict | list[dict], conflict_columns: list) -> object:
    """``INSERT rows ON CONFLICT (conflict_columns) DO NOTHING``; add ``.returning(...)`` to learn which went in."""
    insert = _INSERTS[db.session.get_bind().dialect.name](table).values(rows)
    return insert.on_conflict_do_nothing(index_elements=conflict_columns)
