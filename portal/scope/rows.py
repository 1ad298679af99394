"""The set-based moves every desired-state kind makes on its per-device rows (``profile_states``,
``app_states``...) from its items' scopes, in a constant number of statements whatever the number
of devices: the ``(device, item)`` pairs in scope as one ``UNION ALL``; new pairs get a pending
install, pairs back in scope are installed again, rows out of scope are removed (``removing`` where
the item may be on the device, else ``removed``)."""
from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (CTE, ColumnElement, Integer, Select, Table, and_, bindparam, case, exists, literal, select,
                        union_all, update)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

INSTALL, REMOVE = "install", "remove"
PENDING, REMOVING, REMOVED = "pending", "removing", "removed"
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
#: What ``Rows.last_filled`` reads for a row waiting to be sent: never a digest, so it is always marked again.
UNSENT = ""
#: What a row forgets when the server changes its mind about it.
RESET = {"last_command_uuid": None, "attempts": 0, "next_attempt_at": None, "error": None, "error_chain": None}


def scope_pairs(branches: Iterable[tuple[int, Select]], device_ids: Select | Collection[int] | None,
                item_key: str) -> CTE | None:
    """The ``(id, <item_key>)`` pairs of the items' device selects (``(item_id, SELECT device ids)``),
    narrowed to ``device_ids``; None when there are none."""
    selects = []
    for item_id, branch in branches:
        if device_ids is not None:
            branch = branch.where(branch.selected_columns[0].in_(device_ids))
        selects.append(branch.add_columns(literal(item_id, Integer).label(item_key)))
    if not selects:
        return None
    return (union_all(*selects) if len(selects) > 1 else selects[0]).cte("in_scope")


@dataclass(frozen=True)
class Rows:
    """A kind's state table and its item column; ``unconfirmed``: the status of an install the device accepted but
    has not yet confirmed done (apps' ``installing``), which a row keeps when it is sent again."""

    table: Table
    item_key: str
    unconfirmed: str | None = None

    def _waiting(self) -> tuple[str, ...]:
        return (PENDING,) if self.unconfirmed is None else (PENDING, self.unconfirmed)

    def concerned(self, item_ids: Collection[int] | None,
                  device_ids: Select | Collection[int] | None) -> list[ColumnElement]:
        item = self.table.c[self.item_key]
        return [c for c in (item.in_(item_ids) if item_ids is not None else None,
                            self.table.c.device_id.in_(device_ids) if device_ids is not None else None)
                if c is not None]

    def move(self, session: Session, pairs: CTE | None, concerned: list[ColumnElement], now: datetime,
             may_be_installed: ColumnElement) -> None:
        """Insert, reinstate and remove rows so that exactly ``pairs`` are installs (among ``concerned``)."""
        table, item = self.table, self.table.c[self.item_key]
        if pairs is not None:
            in_scope = exists().where(pairs.c[self.item_key] == item, pairs.c.id == table.c.device_id)
            known = select(table.c.device_id).where(item == pairs.c[self.item_key], table.c.device_id == pairs.c.id)
            # a reconciliation running at the same time (another node, an enrollment) may insert a pair first
            insert = _INSERTS[session.get_bind().dialect.name](table)
            session.execute(insert.from_select(
                ["device_id", self.item_key, "operation", "status", "attempts", "updated_at"],
                select(pairs.c.id, pairs.c[self.item_key], literal(INSTALL), literal(PENDING), literal(0),
                       literal(now, table.c.updated_at.type)).where(~exists(known))).on_conflict_do_nothing())
            session.execute(update(table).where(table.c.operation == REMOVE, in_scope, *concerned)
                            .values(operation=INSTALL, status=PENDING, updated_at=now, **RESET))
        out_of_scope = [table.c.operation == INSTALL, *concerned]
        if pairs is not None:
            out_of_scope.append(~in_scope)
        session.execute(update(table).where(*out_of_scope).values(
            operation=REMOVE, status=case((may_be_installed, REMOVING), else_=REMOVED), updated_at=now, **RESET))

    def last_filled(self) -> ColumnElement:
        """The digest of the values each row's copy was last filled in with (``filled_with``); ``UNSENT`` for a row
        waiting to be sent: a delivery may be filling it in with the former values at this moment, unseen until it
        commits, so such a row is marked again (its UPDATE waits for the delivery's row lock)."""
        table = self.table
        return case((and_(table.c.status.in_(self._waiting()), table.c.last_command_uuid.is_(None)),
                     literal(UNSENT)), else_=table.c.filled_with)

    def install_again(self, session: Session, rows: list[dict[str, int]], now: datetime) -> None:
        """Send these ``{"device", "item"}`` installs once more (the copy a device holds is out of date)."""
        if rows:
            session.execute(update(self.table).where(self.table.c.device_id == bindparam("device"),
                                                     self.table.c[self.item_key] == bindparam("item"))
                            .values(status=self.sent_again(), updated_at=now, **RESET), rows)

    def sent_again(self) -> ColumnElement:
        """The status of a row to send again: pending, or still ``unconfirmed`` (sending a new copy confirms
        nothing)."""
        if self.unconfirmed is None:
            return literal(PENDING)
        return case((self.table.c.status == self.unconfirmed, self.table.c.status), else_=literal(PENDING))
