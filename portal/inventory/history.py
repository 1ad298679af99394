"""The inventory history's statements: its bound per device, and the facts changes recorded between answers.

Run on the cursor (``DriverStatement``): a status report runs outside a transaction block on PostgreSQL, where the
ORM's connection must not begin one.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Text, bindparam, cast, delete, insert, select

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
#: The value the newest recorded change of a fact made it (JSON text, as both databases give it).
_NEWEST_FACT = DriverStatement(
    select(cast(_changes.c.new, Text)).where(_changes.c.device_id == bindparam("device_id"), _changes.c.kind == "facts",
                                             _changes.c.key == bindparam("key"))
    .order_by(_changes.c.id.desc()).limit(1))


def record_fact_changes(connection: Connection, device_id: int, now: datetime,
                        changes: list[tuple[str, Any, Any]]) -> None:
    """Record a few facts changes (DeviceInformation key, old, new), then trim the device's history."""
    for key, old, new in changes:
        _RECORD_FACT.first(connection, {"device_id": device_id, "at": now, "key": key, "old": old, "new": new})
    if changes:
        TRIM_CHANGES.first(connection, {"device_id": device_id})


def recorded(connection: Connection, device_id: int, facts: Mapping[str, Any]) -> dict[str, Any]:
    """Those of ``facts`` (by DeviceInformation key) whose value is what the newest recorded change of them made
    them: a change another message recorded, not one it made unrecorded (a status report whose record failed after
    its own statement, a row written before the history was)."""
    found = {}
    for key, value in facts.items():
        newest = _NEWEST_FACT.first(connection, {"device_id": device_id, "key": key})
        if newest is not None and newest[0] is not None and json.loads(newest[0]) == value:
            found[key] = value
    return found
