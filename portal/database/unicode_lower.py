"""SQLite's ``lower()`` folds ASCII letters only: ``lower('Ö')`` is ``'Ö'``. Case-insensitive matches compare
``lower(column)`` to a value lower-cased in Python (SCIM filters, ``ilike``, admin e-mails), so on SQLite a
non-ASCII name never matched. Each SQLite connection gets Python's ``str.lower`` as its ``lower()``, so both
sides fold alike, as PostgreSQL's ``lower()`` does in a UTF-8 locale."""
from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


def install_unicode_lower(engine: Engine) -> None:
    """Replace ``lower()`` on every connection ``engine`` (SQLite) opens from now on."""

    @event.listens_for(engine, "connect")
    def register(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value: Any) -> Any:
    """Text lower-cased; NULL (and any other value) as it is."""
    return value.lower() if isinstance(value, str) else value
