"""The status channel: a device's status report, stored.

``mdm_core.ddm.status.parse_status_report`` keeps only the status items User Enrollment allows, so a
serial number or UDID a device sends never reaches these tables (only how many were dropped is
logged). Per declaration the device's ``active``, ``valid`` and ``Reasons`` are upserted (written only
where they changed), and the rows of declarations the ``management.declarations`` item (always whole) no
longer lists are dropped; inventory (OS version and build, model, passcode compliance) is written from the
report's facts, with no ``DeviceInformation`` command, and so are the managed apps, certificates and accounts it
lists (``app.managed.list``, ``security.certificate.list``, ``account.list.*``:
``portal.inventory.records.apply_status_list``), each only when it changed since the last one written
(``changed_lists``).
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Insert, Text, bindparam, cast, delete, select, tuple_, update
from sqlalchemy.dialects import sqlite

from mdm_core.ddm.status import DECLARATIONS_ITEM, MAX_DECLARATION_STATUSES, Reason, StatusReport, inventory_facts
from mdm_core.ddm.status_lists import STATUS_LISTS, ListUpdate, StatusList, list_source
from mdm_core.plist import storable

from ..inventory.facts import STATUS_DEVICE_COLUMNS, TOLD_STATUS_COLUMNS, mirrored_changes
from ..inventory.history import record_fact_changes
from ..inventory.records import STATUS_LIST_TABLES, apply_status_list, status_list_rows
from ..models import DdmEnrollment, DeclarationStatus, Device

log = logging.getLogger(__name__)
MAX_REASONS = 20
MAX_ERRORS = 20
_statuses = DeclarationStatus.__table__
_devices = Device.__table__
_enrollments = DdmEnrollment.__table__
#: Inventory facts (``inventory_facts``, already bounded to the column) kept on the DDM row (the device row's:
#: ``STATUS_DEVICE_COLUMNS``).
PASSCODE = ("passcode_compliant", "passcode_present")


def report_values(report: StatusReport) -> dict[str, Any]:
    """What a report writes, as the parameters of its statements: ``rows`` (one per declaration, the last one
    when a report names one twice), ``forget`` (drop the statuses it does not list: only a report holding the
    declarations item, which lists them all, unless past ``MAX_DECLARATION_STATUSES``; a full report without it,
    the device having put it in ``Errors``, says nothing of them), the device's inventory facts and the DDM row's
    passcode facts (None: not in the report, keep), ``errors`` (the report's) with ``full_report`` and ``covered``
    (the items it carries), which say what it replaces of those stored (``merged_errors``)."""
    rows = {row["identifier"]: row for row in (
        {"identifier": storable(d.identifier)[:255], "server_token": storable(d.server_token or "")[:64],
         "active": bool(d.active),
         "valid": d.valid, "reasons": _reasons(d.reasons)} for d in report.declarations)}
    facts = inventory_facts(report)
    # a report past the cap (statuses_dropped) does not list them all: what it left out is not gone
    values: dict[str, Any] = {"rows": list(rows.values()),
                              "forget": DECLARATIONS_ITEM in report.items and not report.statuses_dropped}
    values.update({name: facts[name] if isinstance(facts.get(name), str) else None for name in STATUS_DEVICE_COLUMNS})
    values.update({name: facts[name] if isinstance(facts.get(name), bool) else None for name in PASSCODE})
    values["full_report"] = report.full_report
    values["covered"] = [*report.items, *(e.status_item for e in report.errors)]
    values["errors"] = [{"StatusItem": e.status_item, "Reasons": _reasons(e.reasons)}
                        for e in report.errors[:MAX_ERRORS]] or None
    return values


def merged_errors(stored: Any, values: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The errors kept after a report: a full report's own; else its own, then each stored error of an item the
    report neither carries nor names again (an error goes once its item is reported, even by an iOS 15/16 phone,
    which never sends a full report). PostgreSQL's ``status_exchange`` merges the same way."""
    if values["full_report"]:
        return values["errors"]
    covered = set(values["covered"])
    kept = [error for error in (stored if isinstance(stored, list) else ())
            if isinstance(error, dict) and error.get("StatusItem") not in covered]
    return [*(values["errors"] or ()), *kept][:MAX_ERRORS] or None


def log_dropped(device_id: int, report: StatusReport) -> None:
    if report.dropped_count:
        log.info("DDM status report: dropped %d status item(s) User Enrollment does not allow or this server "
                 "does not know", report.dropped_count, extra={"device_id": device_id})
    if report.statuses_dropped:
        log.warning("DDM status report: %d declaration status(es) past the first %d left out",
                    report.statuses_dropped, MAX_DECLARATION_STATUSES, extra={"device_id": device_id})


def store(connection: Connection, device_id: int, report: StatusReport, now: datetime) -> None:
    """Write one parsed report and stamp the device's last contact, statement by statement (SQLite; PostgreSQL
    runs ``portal.mdm.declarative_statements.status_exchange``); the caller commits."""
    log_dropped(device_id, report)
    values = report_values(report)
    rows = values["rows"]
    # first a write, which takes SQLite's write lock: a report racing this one reads the facts after it wrote them
    # (else both recorded the same change)
    connection.execute(_DEVICE, {"for_device": device_id, "last_seen_at": now})
    if values["forget"]:  # the item always lists every declaration
        connection.execute(_FORGET, {"for_device": device_id, "listed": [r["identifier"] for r in rows]})
    if rows:
        connection.execute(_UPSERT, [{"device_id": device_id, **row, "updated_at": now} for row in rows])
    stored = connection.execute(_STORED, {"for_device": device_id}).first()  # None: DDM was turned off since
    columns = {name: values[name] for name in STATUS_DEVICE_COLUMNS if values[name] is not None}
    if columns:
        connection.execute(_DEVICE, {"for_device": device_id, **columns})
    if stored:
        record_fact_changes(connection, device_id, now, mirrored_changes(stored._mapping, values))
    ddm: dict[str, Any] = {name: values[name] for name in PASSCODE if values[name] is not None}
    if "passcode_compliant" in ddm:
        ddm["passcode_reported_at"] = now
    if stored:
        ddm["errors"] = merged_errors(stored.errors, values)
    for status_list, digest in changed_lists(report, dict(zip(STATUS_LIST_TABLES, stored))) if stored else ():
        held_back = apply_status_list(connection, device_id, status_list.kind, status_list.read(report), now)
        ddm[f"{status_list.kind}_list_digest"] = "unknown" if held_back else digest
    connection.execute(_ENROLLMENT, {"for_device": device_id, "last_status_at": now, **ddm})


def list_values(kind: str, status_list: ListUpdate) -> dict[str, Any]:
    """The parameters of PostgreSQL's statement for one list of a report (``status_list_exchange``), its digest
    aside: ``rows`` (JSON: the rows by ``status_list_rows``), ``named`` (JSON: the status identifiers it lists or
    removed) and ``whole``."""
    key_column = STATUS_LIST_TABLES[kind][1]
    rows = [{key_column: key, **row} for key, row in status_list_rows(kind, status_list).items()]
    return {"rows": json.dumps(rows, default=datetime.isoformat), "whole": status_list.whole,
            "named": json.dumps([*status_list.listed, *status_list.removed])}


def changed_lists(report: StatusReport, written: Mapping[str, str | None]) -> Iterator[tuple[StatusList, str]]:
    """Each list of the report that needs writing, with its digest, given the digest of the one last written
    (``written``, by kind). An unchanged list is not even read: the digest is taken of what its reader reads
    (``list_source``). A list never written needs writing only once it lists something (no status row of its kind
    exists yet). So a row's ``updated_at`` is when a report last wrote its list (one that changed), on either
    database."""
    for status_list in STATUS_LISTS:
        kind, source = status_list.kind, list_source(report, status_list)
        if source is None or written[kind] is None and not any(source["items"].values()):
            continue
        digest = hashlib.blake2b(json.dumps(source).encode(), digest_size=16).hexdigest()
        if digest != written[kind]:
            yield status_list, digest


# A report arrives after every sync: its statements are built once (building them cost more CPU than
# running them); the UPDATEs set the columns their parameters name.
_FORGET = delete(_statuses).where(_statuses.c.device_id == bindparam("for_device"),
                                  _statuses.c.identifier.not_in(bindparam("listed", expanding=True)))
_DEVICE = update(_devices).where(_devices.c.id == bindparam("for_device"))
_ENROLLMENT = update(_enrollments).where(_enrollments.c.device_id == bindparam("for_device"))
#: The digest of each list last written, then the device columns whose changes a report records.
_STORED = (select(*(_enrollments.c[f"{kind}_list_digest"] for kind in STATUS_LIST_TABLES),
                  *(_devices.c[name] for name in TOLD_STATUS_COLUMNS), _enrollments.c.errors)
           .select_from(_enrollments.join(_devices, _devices.c.id == _enrollments.c.device_id))
           .where(_enrollments.c.device_id == bindparam("for_device")))
_WRITTEN = ("server_token", "active", "valid", "reasons", "updated_at")


def upsert_changed(insert: Insert) -> Insert:
    """``insert`` of statuses (PostgreSQL's or SQLite's), updating a device's stored status only where the
    report changed it: ``updated_at`` is when the device's status of that declaration last changed."""
    stored = (_statuses.c.server_token, _statuses.c.active, _statuses.c.valid, cast(_statuses.c.reasons, Text))
    new = (insert.excluded.server_token, insert.excluded.active, insert.excluded.valid,
           cast(insert.excluded.reasons, Text))
    return insert.on_conflict_do_update(index_elements=["device_id", "identifier"],
                                        set_={name: insert.excluded[name] for name in _WRITTEN},
                                        where=tuple_(*stored).is_distinct_from(tuple_(*new)))


_UPSERT = upsert_changed(sqlite.insert(_statuses))


def _reasons(reasons: tuple[Reason, ...]) -> list[dict[str, Any]] | None:
    """Reasons as Apple writes them (``Code``, ``Description``, ``Details``), at most ``MAX_REASONS``; storable
    (a NUL in them failed PostgreSQL's ``json_to_recordset``, a 500)."""
    return storable([{"Code": r.code, **({"Description": r.description} if r.description else {}),
                      **({"Details": dict(r.details)} if r.details else {})} for r in reasons[:MAX_REASONS]]) or None
