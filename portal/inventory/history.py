"""The inventory history's statements: its bound per device, and the facts changes recorded between answers.

Run on the cursor (``DriverStatement``): a status report runs outside a transaction block on PostgreSQL, where the
ORM's connection must not begin one.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Text, bindparam, cast, delete, func, insert, select

from ..database.driver import DriverStatement
from ..models import InventoryChange

_changes = InventoryChange.__table__

#: Inventory changes a device keeps, its newest: the device page and the API show the latest 50, and a phone
#: that keeps listing entries in its status reports and removing them again (unsolicited, up to 2,000 changes a
#: report) must not make the table grow without end.
MAX_CHANGES_PER_DEVICE = 1000
_OLDEST_KEPT = (select(_changes.c.id).where(_changes.c.device_id == bindparam("device_id"))
                .order_by(_changes.c.id.desc()).offset(MAX_CHANGES_PER_DEVICE - 1).limit(1).scalar_subquery())
#: Drop a device's changes older than its newest ``MAX_CHANGES_PER_DEVICE`` (run after recording some).
TRIM_CHANGES = DriverStatement(delete(_changes).where(_changes.c.device_id == bindparam("device_id"),
                                                      _changes.c.id < _OLDEST_KEPT))
_RECORD_FACT = DriverStatement(insert(_changes).values(
    kind="facts", **{name: bindparam(name, type_=_changes.c[name].type) for name in ("device_id", "at", "key", "old", "new")}))
#: The value the newest recorded change of each fact made it (JSON text, as both databases give it), by key.
_NEWEST_FACTS = DriverStatement(select(_changes.c.key, cast(_changes.c.new, Text)).where(_changes.c.id.in_(
    select(func.max(_changes.c.id)).where(_changes.c.device_id == bindparam("device_id"), _changes.c.kind == "facts")
    .group_by(_changes.c.key))))


def record_changes(connection: Connection, device_id: int, now: datetime, kind: str,
                   changes: Iterable[tuple[str, Any, Any]]) -> None:
    """Record changes (key, old, new) of ``kind`` in one statement, then trim the device's history; inside the
    caller's transaction (the ORM's connection begins one)."""
    rows = [{"device_id": device_id, "at": now, "kind": kind, "key": key[:255], "old": old, "new": new}
            for key, old, new in changes]
    if rows:
        connection.execute(insert(_changes), rows)
        TRIM_CHANGES.first(connection, {"device_id": device_id})


def record_fact_changes(connection: Connection, device_id: int, now: datetime,
                        changes: list[tuple[str, Any, Any]]) -> None:
    """Record a few facts changes (DeviceInformation key, old, new) statement by statement on the cursor, then
    trim: unlike ``record_changes``, usable outside a transaction block (a status report on PostgreSQL)."""
    for key, old, new in changes:
        _RECORD_FACT.first(connection, {"device_id": device_id, "at": now, "key": key, "old": old, "new": new})
    if changes:
        TRIM_CHANGES.first(connection, {"device_id": device_id})


def recorded(connection: Connection, device_id: int, facts: Mapping[str, Any]) -> dict[str, Any]:
    """Those of ``facts`` (by DeviceInformation key) whose value is what the newest recorded change of them made
    them: a change another message recorded, not one it made unrecorded (a status report whose record failed after
    its own statement, a row written before the history was)."""
    newest = {key: json.loads(text) for key, text in _NEWEST_FACTS.all(connection, {"device_id": device_id})
              if key in facts and text is not None}
    return {key: value for key, value in facts.items() if key in newest and newest[key] == value}
