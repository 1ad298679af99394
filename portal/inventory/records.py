"""Write sanitised inventory reports into the inventory tables, with a history of changes.

Only for acknowledged inventory commands, on the connection and inside the transaction the
command report runs in (``portal.mdm.report``); it reads and writes the rows of one device, so
it stays short.
A facts or security answer that only replaces the stored one needs no transaction: on
PostgreSQL the report's own statement writes it (``answer_update``, decided by ``plan_answer``).
It runs Core statements on the caller's connection and never loads ORM objects: on the command
connection, the ORM's load and flush bookkeeping cost several times more CPU than the few
statements a report needs.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import cache
from typing import Any, Callable, Collection, Mapping

from sqlalchemy import Connection, Table, Text, Update, bindparam, cast, delete, func, insert, null, select, update

from mdm_core.ddm.status_lists import MAX_LIST_ENTRIES, AccountRecord, ListUpdate
from mdm_core.results import AppRecord, CertificateRecord, Inventory, ResultError, parse_inventory

from ..database.driver import DriverStatement
from ..models import (DdmEnrollment, Device, DeviceAccount, DeviceApp, DeviceCertificate, DeviceInventory,
                      DeviceProfile)
from .facts import DEVICE_COLUMNS, told_since
from .history import record_changes, recorded

log = logging.getLogger(__name__)

#: Facts that change on every report; recording each change would bury the ones that matter.
VOLATILE_FACTS = frozenset({"BatteryLevel", "AvailableDeviceCapacity"})

_devices = Device.__table__
_inventories = DeviceInventory.__table__
_apps = DeviceApp.__table__
_certificates_table = DeviceCertificate.__table__
_ddm = DdmEnrollment.__table__

# Built once. The facts and security answers, which every inventory round brings, are read and
# written straight on the cursor (``portal.database.driver``), or within the command connection's
# own statements on PostgreSQL (``portal.mdm.statements``); the stored answer is read as JSON text, which
# both dialects return alike. The list kinds, rarer and bulkier, go through Core's executemany.
MIRRORED_COLUMNS = tuple(_devices.c[column] for column, _ in DEVICE_COLUMNS.values())
#: Inventory commands whose answer is one document per device, by the kind it is stored as; the
#: other inventory commands answer lists of rows.
ANSWER_KINDS = {"DeviceInformation": "facts", "SecurityInfo": "security"}
#: Per kind, the device's stored answer (NULLs when it has no inventory row yet): one read
#: decides every write (see ``plan_answer``).
STORED_ANSWER_COLUMNS = {kind: (_inventories.c.device_id, cast(_inventories.c[kind], Text),
                                _inventories.c[f"{kind}_updated_at"]) for kind in ANSWER_KINDS.values()}
_STORED = {kind: DriverStatement(select(*STORED_ANSWER_COLUMNS[kind], *extra)
                                 .select_from(_devices.outerjoin(_inventories))
                                 .where(_devices.c.id == bindparam("for_device")))
           for kind, extra in (("facts", MIRRORED_COLUMNS), ("security", ()))}


def answer_update(kind: str) -> Update:
    """Replace the device's stored answer of ``kind`` (parameters ``for_device``, ``answer``, ``now``)."""
    return (update(_inventories).where(_inventories.c.device_id == bindparam("for_device"))
            .values({kind: bindparam("answer"), f"{kind}_updated_at": bindparam("now")}))


_REPLACE = {kind: DriverStatement(answer_update(kind)) for kind in ANSWER_KINDS.values()}
_MANAGED_IDENTIFIERS = select(_apps.c.identifier).where(_apps.c.device_id == bindparam("for_device"))


@cache
def _update_device(columns: tuple[str, ...]) -> DriverStatement:
    return DriverStatement(update(_devices).where(_devices.c.id == bindparam("for_device"))
                           .values({column: bindparam(f"new_{column}") for column in columns}))


def read_inventory(request_type: str, sanitized: Mapping[str, Any], device_id: int, *,
                   queries: Collection[str] | None = None) -> Inventory | None:
    """The inventory an acknowledged, sanitised report carries; None (logged) if it has the wrong shape."""
    try:
        return parse_inventory(request_type, sanitized, queries=queries)
    except ResultError as exc:
        log.warning("inventory report ignored: %s", exc, extra={"device_id": device_id, "request_type": request_type})
        return None


def apply_report(connection: Connection, device_id: int, request_type: str, sanitized: Mapping[str, Any],
                 now: datetime, *, queries: Collection[str] | None = None) -> None:
    """Update the device's inventory from an acknowledged, sanitised report; the caller commits.

    ``queries`` are the keys a DeviceInformation command asked for: stored facts it did not ask
    for are kept (``Inventory.facts_after``). None (no list: the device answers what it chooses)
    replaces every stored fact.
    """
    inventory = read_inventory(request_type, sanitized, device_id, queries=queries)
    if inventory is not None:
        _APPLIERS[inventory.kind](connection, device_id, inventory, now)


def managed_app_identifiers(connection: Connection, device_id: int) -> set[str]:
    return set(connection.execute(_MANAGED_IDENTIFIERS, {"for_device": device_id}).scalars())


def _changed_facts(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    return [(key, old.get(key), new.get(key)) for key in sorted(set(old) | set(new))
            if key not in VOLATILE_FACTS and old.get(key) != new.get(key)]


@dataclass(frozen=True)
class StoredAnswer:
    """A device's stored facts or security answer, as read before a report replaces it."""

    has_row: bool  # False: the device has no inventory row yet
    text: str | None  # the answer as JSON text
    updated_at: datetime | None  # None: no answer of this kind was stored yet (the row's empty default)
    mirrored: tuple[str | None, ...] = ()  # facts: the device columns of DEVICE_COLUMNS, in order


@dataclass(frozen=True)
class AnswerWrite:
    """What storing a facts or security answer writes: decided from the stored answer alone."""

    kind: str
    answer: dict[str, Any]
    insert_row: bool
    changes: list[tuple[str, Any, Any]]
    device_columns: dict[str, str]

    @property
    def answer_only(self) -> bool:
        """Only the answer is rewritten, on its existing row: one statement can carry it
        (see ``answer_update``)."""
        return not (self.insert_row or self.changes or self.device_columns)


def plan_answer(inventory: Inventory, stored: StoredAnswer,
                confirmed: Callable[[dict[str, Any]], dict[str, Any]]) -> AnswerWrite:
    """Facts and security answers are compared with the stored ones once a first answer was
    stored (the row may exist earlier, made by the other kind's answer: its empty default is no
    answer). Facts also update the device columns they are mirrored on. A fact another message
    changed on the device row since, and recorded (``confirmed`` says which of ``facts.told_since``'s,
    by ``history.recorded``), is compared from the row's value instead: its change is recorded once."""
    previous = _stored_answer(stored.text, stored.updated_at)
    answer = inventory.facts_after(previous or {})
    changes = []
    if stored.has_row and previous is not None:
        told = told_since(inventory, previous, stored.mirrored)
        changes = _changed_facts({**previous, **(confirmed(told) if told else {})}, answer)
    device_columns = {}
    for (key, (column, length)), current in zip(DEVICE_COLUMNS.items(), stored.mirrored):
        value = inventory.facts.get(key)
        if isinstance(value, str) and value[:length] != current:
            device_columns[column] = value[:length]
    return AnswerWrite(inventory.kind, answer, not stored.has_row, changes, device_columns)


def write_answer(connection: Connection, device_id: int, write: AnswerWrite, now: datetime) -> None:
    """Store a facts or security answer as ``plan_answer`` decided; the caller commits."""
    kind = write.kind
    if write.insert_row:
        connection.execute(insert(_inventories), {"device_id": device_id, "facts": {}, "security": {},
                                                  kind: write.answer, f"{kind}_updated_at": now})
    else:
        record_changes(connection, device_id, now, kind, write.changes)
        _REPLACE[kind].first(connection, {"for_device": device_id, "answer": write.answer, "now": now})
    if write.device_columns:
        _update_device(tuple(write.device_columns)).first(connection, {
            "for_device": device_id, **{f"new_{column}": value for column, value in write.device_columns.items()}})


def _stored_answer(text: str | None, updated_at: datetime | None) -> dict[str, Any] | None:
    """A stored answer (JSON text), or None if none was stored yet: nothing to compare with."""
    return (json.loads(text or "null") or {}) if updated_at is not None else None


def _answer(connection: Connection, device_id: int, inventory: Inventory, now: datetime) -> None:
    has_row, text, updated_at, *mirrored = _STORED[inventory.kind].first(connection, {"for_device": device_id})
    stored = StoredAnswer(has_row is not None, text, updated_at, tuple(mirrored))
    write = plan_answer(inventory, stored, lambda told: recorded(connection, device_id, told))
    write_answer(connection, device_id, write, now)


def _sync(connection: Connection, device_id: int, now: datetime, kind: str, table: Table, key_column: str,
          reported: Mapping[str, dict[str, Any]], gone: Callable[[str, str | None], bool], *,
          kept_if_unset: tuple[str, ...] = (), max_rows: int | None = None, by_status: bool = False) -> bool:
    """Make the device's rows of ``table`` hold ``reported`` (column values by key), deleting the stored rows
    ``gone(key, status_identifier)`` names, and recording what appeared and went away. A stored row keeps its
    ``kept_if_unset`` columns where the report gives None; with ``max_rows``, new rows are added in key order
    only while the device held fewer rows than that before the report. A command's answer (not ``by_status``)
    that rewrites a row a status report gave makes that kind's next status list be written again (its digest,
    ``portal.declarations.status.changed_lists``, no longer says what the rows hold).

    Every reported row gets ``updated_at = now``, so rows already stored are all rewritten. Returns whether
    ``max_rows`` held a new row back.
    """
    status_identifier = table.c.get("status_identifier", null())
    existing = {key: (row_id, status) for key, row_id, status in connection.execute(
        select(table.c[key_column], table.c.id, status_identifier)
        .where(table.c.device_id == device_id).order_by(table.c.id))}
    new = sorted(key for key in reported if key not in existing)
    offered = len(new)
    if max_rows is not None:
        new = new[:max(0, max_rows - len(existing))]
    added = [{"device_id": device_id, key_column: key, "updated_at": now, **reported[key]} for key in new]
    changes: list[tuple[str, Any, Any]] = [(key, None, "added") for key in new]
    updated = [{"row_id": existing[key][0], "updated_at": now,
                **{f"kept_{name}" if name in kept_if_unset else name: value for name, value in fields.items()}}
               for key, fields in reported.items() if key in existing]
    if added:
        connection.execute(insert(table), added)
    if not by_status and kind in _DIGEST_UNKNOWN and any(existing[key][1] is not None for key in reported
                                                          if key in existing):
        _DIGEST_UNKNOWN[kind].first(connection, {"device_id": device_id})
    if updated:
        kept = {name: func.coalesce(bindparam(f"kept_{name}"), table.c[name]) for name in kept_if_unset}
        connection.execute(update(table).where(table.c.id == bindparam("row_id")).values(kept), updated)
    missing = {key: row_id for key, (row_id, status) in existing.items() if key not in reported and gone(key, status)}
    if missing:
        connection.execute(delete(table).where(table.c.id.in_(missing.values())))
        changes.extend((key, "installed", None) for key in missing)
    record_changes(connection, device_id, now, kind, changes)
    return len(new) < offered


def _commanded(_key: str, status_identifier: str | None) -> bool:
    """A list command's answer is whole for what commands reported: the rows a status report gave stay."""
    return status_identifier is None


def _profiles(connection: Connection, device_id: int, inventory: Inventory, now: datetime) -> None:
    _sync(connection, device_id, now, "profiles", DeviceProfile.__table__, "identifier",
          {r.identifier: {k: (list(v) if k == "payload_types" else v) for k, v in asdict(r).items()
                          if k != "identifier"} for r in inventory.records}, _commanded)


def _certificates(connection: Connection, device_id: int, inventory: Inventory, now: datetime) -> None:
    _sync(connection, device_id, now, "certificates", _certificates_table, "fingerprint",
          {r.fingerprint: _certificate_fields(r) for r in inventory.records}, _commanded)


def _managed_apps(connection: Connection, device_id: int, inventory: Inventory, now: datetime) -> None:
    _sync(connection, device_id, now, "apps", _apps, "identifier",
          {r.identifier: {"status": r.status} for r in inventory.records}, _commanded)


def _installed_apps(connection: Connection, device_id: int, inventory: Inventory, now: datetime) -> None:
    _sync(connection, device_id, now, "apps", _apps, "identifier",
          {r.identifier: _app_fields(r) | {"bundle_size": r.bundle_size} for r in inventory.records},
          lambda _key, _status: False)


def _certificate_fields(record: CertificateRecord) -> dict[str, Any]:
    return {"common_name": record.common_name, "is_identity": record.is_identity, "not_after": record.not_after}


def _app_fields(record: AppRecord) -> dict[str, Any]:
    return {"name": record.name, "version": record.version, "short_version": record.short_version}


#: The inventory table each status report list is kept in (``apply_status_list``), the column keying its rows,
#: and the columns a stored row keeps when an entry leaves them out (Apple's entries carry them optionally).
STATUS_LIST_TABLES: Mapping[str, tuple[Table, str, tuple[str, ...]]] = {
    "apps": (_apps, "identifier", ("name", "version", "short_version", "status")),
    "certificates": (_certificates_table, "fingerprint", ("common_name",)),
    "accounts": (DeviceAccount.__table__, "identifier", ("visible_name", "hostname", "port", "username"))}


def status_list_rows(kind: str, status_list: ListUpdate) -> dict[str, dict[str, Any]]:
    """The rows a status report's list writes (``kind`` ``apps``, ``certificates`` or ``accounts``), by key, each
    with the status identifier it came with."""
    if kind == "apps":
        return {r.identifier: {**_app_fields(r), "status": r.status, "status_identifier": status}
                for status, r in status_list.records.items()}
    if kind == "accounts":
        return {r.key: {**_account_fields(r), "status_identifier": status} for status, r in status_list.records.items()}
    return {r.fingerprint: {**_certificate_fields(r), "status_identifier": status}
            for status, r in status_list.records.items()}


def _account_fields(record: AccountRecord) -> dict[str, Any]:
    return {"account_type": record.account_type, "declaration_identifier": record.declaration_identifier,
            "visible_name": record.visible_name, "hostname": record.hostname, "port": record.port,
            "username": record.username}


def apply_status_list(connection: Connection, device_id: int, kind: str, status_list: ListUpdate,
                      now: datetime) -> bool:
    """Store a status report's ``app.managed.list`` (``kind`` ``apps``), ``security.certificate.list``
    (``certificates``) or ``account.list.*`` (``accounts``) statement by statement (SQLite; PostgreSQL runs one
    statement a list after the report's own, ``portal.mdm.declarative_statements.status_list_exchange``); returns
    whether the cap held a new row back. The caller commits.

    A stored row the report does not name by its key is gone only if a status report gave it, and the report
    lists every entry (``whole``), removed its status identifier, or lists that identifier with another key (a
    certificate renewed in place). What an entry leaves out stays as stored; a device holding
    ``MAX_LIST_ENTRIES`` rows of the kind gets no new one (a report may add a thousand, and reports come at will).
    """
    table, key_column, kept = STATUS_LIST_TABLES[kind]
    named = status_list.listed | status_list.removed

    def gone(_key: str, status: str | None) -> bool:
        return status is not None and (status_list.whole or status in named)

    return _sync(connection, device_id, now, kind, table, key_column, status_list_rows(kind, status_list), gone,
                 kept_if_unset=kept, max_rows=MAX_LIST_ENTRIES, by_status=True)


_DIGEST_UNKNOWN = {kind: DriverStatement(update(_ddm).where(_ddm.c.device_id == bindparam("device_id"),
                                                             _ddm.c[f"{kind}_list_digest"].isnot(None))
                                         .values({f"{kind}_list_digest": "unknown"}))
                   for kind in STATUS_LIST_TABLES}


_APPLIERS: Mapping[str, Callable[[Connection, int, Inventory, datetime], None]] = {
    "facts": _answer,
    "security": _answer,
    "profiles": _profiles,
    "certificates": _certificates,
    "managed_apps": _managed_apps,
    "apps": _installed_apps,
}
