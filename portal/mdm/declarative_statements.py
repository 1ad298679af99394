"""The SQL of DeclarativeManagement check-ins: one statement per request, built once, run on the DBAPI
cursor (``portal.database.driver``), as the command connection's are (``statements``).

Each read returns the device's ``DeviceRow`` (for the pin rule), whether it has a ``ddm_enrollments`` row
and whether that is ``stale``, then the stored answer the endpoint serves (``portal.declarations.documents``).
``status_exchange`` (PostgreSQL) stores a whole status report in the same one statement, outside a
transaction block, and writes only if the request passes the pin rule.
"""
from __future__ import annotations

from functools import cache

from sqlalchemy import (ARRAY, JSON, Boolean, ColumnElement, Integer, Join, String, Text, and_, any_, bindparam, case,
                        cast, column, delete, exists, func, insert, literal, literal_column, or_, select, text, true,
                        union_all, update)
from sqlalchemy.dialects import postgresql

from mdm_core.ddm.status_lists import MAX_LIST_ENTRIES

from ..database.driver import DriverStatement
from ..declarations.status import MAX_ERRORS, PASSCODE, upsert_changed
from ..inventory.facts import STATUS_DEVICE_COLUMNS, TOLD_STATUS_COLUMNS
from ..inventory.records import STATUS_LIST_TABLES
from ..models import DdmEnrollment, Declaration, DeclarationAssignment, DeclarationStatus, Device, InventoryChange
from .pinning import proven
from .statements import DEVICE, DeviceRow, identifier_column

_devices = Device.__table__
_enrollments = DdmEnrollment.__table__
_declarations = Declaration.__table__
_assignments = DeclarationAssignment.__table__
_statuses = DeclarationStatus.__table__
_changes = InventoryChange.__table__
#: An inventory change's old and new values (JSON), as ``portal.inventory.records`` writes them.
_JSON_NULL, _ADDED, _INSTALLED = (literal_column(f"'{value}'::json") for value in ('null', '"added"', '"installed"'))

#: Where the ``ddm_enrollments`` columns and the stored answer are in a row (after ``DEVICE``).
DDM, STALE, STORED, DECLARATION = DEVICE.stop, DEVICE.stop + 1, DEVICE.stop + 2, DEVICE.stop + 3

#: The stored answer each read returns: a column of the device's ``ddm_enrollments`` row, or the declaration's.
_STORED = {"device": (), "tokens": (_enrollments.c.tokens_document,),
           "declaration-items": (_enrollments.c.manifest_document,),
           "activation": (_enrollments.c.activation_document,),
           "declaration": (_declarations.c.document, _declarations.c.id)}


def _with_enrollment(enrollment_type: str) -> tuple[Join, tuple[ColumnElement, ...], ColumnElement]:
    """The device a check-in names joined with its DDM row: the join, the columns up to ``STALE``, the condition."""
    joined = _devices.outerjoin(_enrollments, _enrollments.c.device_id == _devices.c.id)
    columns = (*(_devices.c[name] for name in DeviceRow._fields), _enrollments.c.device_id.label("ddm"),
               _enrollments.c.stale)
    return joined, columns, identifier_column(enrollment_type) == bindparam("identifier")


@cache
def read(enrollment_type: str, answer: str) -> DriverStatement:
    """The device row and the stored ``answer`` (a key of ``_STORED``); ``declaration`` takes ``kind`` and
    ``declaration`` (its identifier), and gives NULLs when the device's set does not hold it."""
    joined, columns, named = _with_enrollment(enrollment_type)
    if answer == "declaration":
        in_set = _assignments.join(_declarations, and_(
            _declarations.c.id == _assignments.c.declaration_id, _declarations.c.kind == bindparam("kind"),
            _declarations.c.identifier == bindparam("declaration")))
        joined = joined.outerjoin(in_set, _assignments.c.device_id == _devices.c.id)
    return DriverStatement(select(*columns, *_STORED[answer]).select_from(joined).where(named))


@cache
def status_exchange(enrollment_type: str) -> DriverStatement:
    """PostgreSQL: a status report as one statement, atomic on its own; returns the device row (``DDM``,
    ``STALE`` after it). If the request passes the pin rule and the device is managed declaratively, it
    stamps the device's last contact with the report's inventory facts (NULL: keep), the DDM row's
    passcode facts (and their time, when the report carries compliance) and a full report's errors (``MERGE_ERRORS``
    merges an incremental one's),
    upserts the declarations' statuses (``rows``: their JSON), writing only those that changed, and with
    ``forget`` drops those the report does not list. Its row ends with the device's ``TOLD_STATUS_COLUMNS`` as
    they were (``TOLD``: the report's changes of them are recorded after it) and the digest of each list last
    written (``DIGESTS``), which says whether a list needs writing. It locks the device row as it reads it: a
    report racing it waits, and then reads the facts this one wrote.
    """
    joined, columns, named = _with_enrollment(enrollment_type)
    digests = [_enrollments.c[f"{kind}_list_digest"] for kind in STATUS_LIST_TABLES]
    told = [_devices.c[name] for name in TOLD_STATUS_COLUMNS]
    # locked as read: a report racing this one reads the facts it wrote, not those before (else both recorded them);
    # FOR NO KEY UPDATE, the lock the UPDATE takes anyway: FOR UPDATE would also wait for (and deadlock with) a
    # transaction inserting a row that references the device (its foreign-key check holds FOR KEY SHARE)
    had_errors = _enrollments.c.errors.isnot(None).label("had_errors")
    target = select(*columns, had_errors, *told, *digests).select_from(joined).where(named).with_for_update(
        of=_devices, key_share=True).cte("target")
    kept = {name: func.coalesce(bindparam(name, type_=_devices.c[name].type), _devices.c[name])
            for name in STATUS_DEVICE_COLUMNS}
    device = (update(_devices).where(_devices.c.id == target.c.id, proven(target), target.c.ddm.isnot(None))
              .values(last_seen_at=bindparam("now"), **kept).returning(_devices.c.id).cte("device"))
    device_id = select(device.c.id).scalar_subquery()
    passcode = {name: func.coalesce(bindparam(name, type_=Boolean), _enrollments.c[name]) for name in PASSCODE}
    # cast: the bind's type must not hang on the coalesce coming first in the SET list
    compliance_told = cast(bindparam("passcode_compliant", type_=Boolean), Boolean).isnot(None)
    enrollment = (update(_enrollments).where(_enrollments.c.device_id == device_id)
                  .values(last_status_at=bindparam("now"), **passcode,
                          passcode_reported_at=case((compliance_told, bindparam("now")),
                                                    else_=_enrollments.c.passcode_reported_at),
                          errors=case((bindparam("full_report", type_=Boolean), cast(bindparam("errors", type_=Text), JSON)),
                                      else_=_enrollments.c.errors))
                  .returning(_enrollments.c.device_id).cte("enrollment"))
    # written out: SQLAlchemy labels each column, and the statement must stay within psycopg's cached length
    reported = text("SELECT * FROM json_to_recordset(CAST(:rows AS JSON)) AS r(identifier VARCHAR, server_token VARCHAR, "
                    "active BOOLEAN, valid VARCHAR, reasons JSON)").columns(
        column("identifier", String), column("server_token", String), column("active", Boolean),
        column("valid", String), column("reasons", JSON)).cte("reported")
    forgotten = (delete(_statuses).where(_statuses.c.device_id == device_id, bindparam("forget", type_=Boolean),
                                         ~exists().where(reported.c.identifier == _statuses.c.identifier))
                 .returning(_statuses.c.device_id).cte("forgotten"))
    names = ("server_token", "active", "valid", "reasons")
    written = upsert_changed(postgresql.insert(_statuses).from_select(
        ["device_id", "identifier", *names, "updated_at"],
        select(device.c.id, reported.c.identifier, *(reported.c[name] for name in names),
               bindparam("now", type_=_statuses.c.updated_at.type)).select_from(device.join(reported, true())))
    ).returning(_statuses.c.device_id).cte("written")
    # PostgreSQL runs every data-modifying CTE; the subqueries only make SQLAlchemy render them
    wrote = [select(func.count()).select_from(cte).scalar_subquery() for cte in (enrollment, forgotten, written)]
    device_row = list(target.c)[:len(columns)]
    return DriverStatement(select(*device_row, *wrote, target.c.had_errors,
                                  *(target.c[c.name] for c in (*told, *digests))))


def _merged_errors() -> ColumnElement:
    """``portal.declarations.status.merged_errors`` for a report that is not full: its errors (``errors``: JSON),
    then each stored one whose ``StatusItem`` it does not carry (``covered``)."""
    reported = cast(bindparam("errors", type_=Text), JSON)
    stored = func.json_array_elements(case((func.json_typeof(_enrollments.c.errors) == "array",
                                            _enrollments.c.errors), else_=func.json_build_array())).table_valued("value")
    fresh = func.json_array_elements(case((func.json_typeof(reported) == "array", reported),
                                          else_=func.json_build_array())).table_valued("value")
    kept = select(stored.c.value).where(
        ~stored.c.value.op("->>")("StatusItem").op("=")(any_(bindparam("covered", type_=ARRAY(Text)))))
    both = union_all(select(fresh.c.value), kept).subquery()
    first = select(both.c.value).limit(MAX_ERRORS).subquery()
    return select(func.json_agg(first.c.value)).scalar_subquery()


#: PostgreSQL: an incremental report's errors merged with those stored; run after ``status_exchange`` only when the
#: report has errors or the device had some (``HAD_ERRORS``), so a report without either costs no statement more.
MERGE_ERRORS = DriverStatement(update(_enrollments).where(_enrollments.c.device_id == bindparam("device_id"))
                               .values(errors=_merged_errors()))


@cache
def status_list_exchange(kind: str) -> DriverStatement:
    """PostgreSQL: a report's list of ``kind`` as ``portal.inventory.records.apply_status_list`` stores it, once
    ``status_exchange`` let the report through (run only when the list changed: ``DIGESTS``), and keeps its
    digest (``digest``; ``unknown`` when the cap held a new row back); returns how many inventory changes the
    device holds after it. The rows
    it lists are upserted by key (``rows``: what an entry leaves out stays as stored; new rows in key order while
    the device held fewer than ``MAX_LIST_ENTRIES``); the status rows it does not name by key are deleted, all
    of them when ``whole``, else those whose status identifier is in ``named``; each row added or gone is
    recorded as an inventory change. A statement of its own, and short: psycopg converts a query of more than 4096 characters
    anew at every execution, which cost more than the rest of the report."""
    table, key_column, kept = STATUS_LIST_TABLES[kind]
    names = [c.name for c in table.c if c.name not in ("id", "device_id", key_column, "updated_at", "bundle_size")]
    device_id = bindparam("device_id", type_=Integer)
    now = bindparam("now", type_=table.c.updated_at.type)
    reported = select(func.json_to_recordset(cast(bindparam("rows", type_=Text), JSON)).table_valued(
        *(column(name, table.c[name].type) for name in (key_column, *names))
    ).render_derived(name="r", with_types=True)).cte("r")
    named = select(func.json_array_elements_text(cast(bindparam("named", type_=Text), JSON))).scalar_subquery()
    gone = (delete(table).where(table.c.device_id == device_id, table.c.status_identifier.isnot(None),
                                ~exists().where(reported.c[key_column] == table.c[key_column]),
                                or_(bindparam("whole", type_=Boolean), table.c.status_identifier.in_(named)))
            .returning(table.c[key_column].label("key")).cte("gone"))
    key = reported.c[key_column]
    fresh = select(key.label("key"), func.row_number().over(order_by=key.collate("C")).label("n")).where(
        ~exists().where(table.c.device_id == device_id, table.c[key_column] == key)).cte("fresh")
    held = select(func.count()).where(table.c.device_id == device_id).scalar_subquery()
    upsert = postgresql.insert(table).from_select(
        ["device_id", key_column, *names, "updated_at"],
        select(device_id, *reported.c, now).select_from(reported.outerjoin(fresh, fresh.c.key == key))
        .where(or_(fresh.c.n.is_(None), fresh.c.n + held <= MAX_LIST_ENTRIES)))
    written = (upsert.on_conflict_do_update(index_elements=["device_id", key_column], set_={
        name: func.coalesce(upsert.excluded[name], table.c[name]) if name in kept else upsert.excluded[name]
        for name in (*names, "updated_at")})
               .returning(table.c[key_column].label("key"), (literal_column("xmax") == 0).label("added"))
               .cte("written"))
    changes = insert(_changes).from_select(["device_id", "at", "kind", "key", "old", "new"], union_all(
        select(device_id, now, literal(kind), written.c.key, _JSON_NULL, _ADDED).where(written.c.added),
        select(device_id, now, literal(kind), gone.c.key, _INSTALLED, _JSON_NULL)))
    # a row held back by the cap is written by the next report that lists it, as on SQLite: not the same digest
    digest = case((exists().where(fresh.c.n + held > MAX_LIST_ENTRIES), literal("unknown")),
                  else_=bindparam("digest", type_=String))
    digested = (update(_enrollments).where(_enrollments.c.device_id == device_id)
                .values({f"{kind}_list_digest": digest}).returning(_enrollments.c.device_id).cte("d"))
    recorded = select(func.count()).select_from(changes.returning(_changes.c.id).cte("changes")).scalar_subquery()
    held_before = select(func.count()).where(_changes.c.device_id == device_id).scalar_subquery()
    return DriverStatement(select(recorded + held_before,
                                  select(func.count()).select_from(digested).scalar_subquery()))


#: Where ``status_exchange``'s row holds, per kind of ``STATUS_LIST_TABLES``, the digest of the list last written.
DIGESTS = {kind: position - len(STATUS_LIST_TABLES) for position, kind in enumerate(STATUS_LIST_TABLES)}
#: Where it holds the device's ``TOLD_STATUS_COLUMNS`` before the report.
TOLD = slice(-len(STATUS_LIST_TABLES) - len(TOLD_STATUS_COLUMNS), -len(STATUS_LIST_TABLES))
#: Whether the device had errors stored before the report (``status_exchange``'s row, before ``TOLD``).
HAD_ERRORS = TOLD.start - 1
