"""The status channel: a device's status report, stored.

``mdm_core.ddm.status.parse_status_report`` keeps only the status items User Enrollment allows, so a
serial number or UDID a device sends never reaches these tables (only how many were dropped is
logged). Per declaration the device's ``active``, ``valid`` and ``Reasons`` are upserted, and the rows
of declarations the ``management.declarations`` item (always whole) no longer lists are dropped;
inventory (OS version and build,
model, passcode compliance) is written from the report's facts, with no ``DeviceInformation`` command.
"""
from __future__ import annotations

import logging
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Insert, bindparam, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mdm_core.ddm.status import Reason, StatusReport, inventory_facts

from ..models import DdmEnrollment, DeclarationStatus, Device

log = logging.getLogger(__name__)
MAX_REASONS = 20
MAX_ERRORS = 20
_statuses = DeclarationStatus.__table__
_devices = Device.__table__
_enrollments = DdmEnrollment.__table__
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
#: Inventory facts (``inventory_facts``, already bounded to the column) kept on the device row and the DDM row.
DEVICE_COLUMNS = ("os_version", "build_version", "product_name", "model", "model_name")
PASSCODE = ("passcode_compliant", "passcode_present")
DECLARATIONS_ITEM = "management.declarations"


def store(session: Session, device_id: int, report: StatusReport, now: datetime) -> None:
    """Write one parsed report and stamp the device's last contact; the caller commits."""
    if report.dropped_count:
        log.info("DDM status report: dropped %d status item(s) User Enrollment does not allow or this server "
                 "does not know", report.dropped_count, extra={"device_id": device_id})
    rows = [{"device_id": device_id, "identifier": d.identifier[:255], "server_token": (d.server_token or "")[:64],
             "active": bool(d.active), "valid": d.valid, "reasons": _reasons(d.reasons), "updated_at": now}
            for d in report.declarations]
    if report.full_report or DECLARATIONS_ITEM in report.items:  # the item always lists every declaration
        session.execute(_FORGET, {"for_device": device_id, "listed": [r["identifier"] for r in rows]})
    if rows:
        session.execute(_upsert(session.get_bind().dialect.name), rows)
    facts = inventory_facts(report)
    columns = {name: facts[name] for name in DEVICE_COLUMNS if isinstance(facts.get(name), str)}
    session.execute(_DEVICE, {"for_device": device_id, "last_seen_at": now, **columns})
    ddm: dict[str, Any] = {name: facts[name] for name in PASSCODE if isinstance(facts.get(name), bool)}
    if report.errors or report.full_report:
        ddm["errors"] = [{"StatusItem": e.status_item, "Reasons": _reasons(e.reasons)}
                         for e in report.errors[:MAX_ERRORS]] or None
    session.execute(_ENROLLMENT, {"for_device": device_id, "last_status_at": now, **ddm})


# A report arrives after every sync: its statements are built once (building them cost more CPU than
# running them); the UPDATEs set the columns their parameters name.
_FORGET = delete(_statuses).where(_statuses.c.device_id == bindparam("for_device"),
                                  _statuses.c.identifier.not_in(bindparam("listed", expanding=True)))
_DEVICE = update(_devices).where(_devices.c.id == bindparam("for_device"))
_ENROLLMENT = update(_enrollments).where(_enrollments.c.device_id == bindparam("for_device"))


@cache
def _upsert(dialect: str) -> Insert:
    insert = _INSERTS[dialect](_statuses)
    return insert.on_conflict_do_update(
        index_elements=["device_id", "identifier"],
        set_={name: insert.excluded[name] for name in ("server_token", "active", "valid", "reasons", "updated_at")})


def _reasons(reasons: tuple[Reason, ...]) -> list[dict[str, Any]] | None:
    """Reasons as Apple writes them (``Code``, ``Description``, ``Details``), at most ``MAX_REASONS``."""
    return [{"Code": r.code, **({"Description": r.description} if r.description else {}),
             **({"Details": dict(r.details)} if r.details else {})} for r in reasons[:MAX_REASONS]] or None
