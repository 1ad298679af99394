"""Legacy devices that exist only on paper: a CSV of UDID, serial number, owner's e-mail and model.

Each row is checked on its own and every rejected row is reported with its line and reason; the
valid rows are imported together in one transaction (never some of them): what an admin expects of
a spreadsheet import is "these went in, fix those". A row whose UDID is already known (enrolled,
or imported before) is rejected, so uploading a corrected file again imports nothing twice.
"""
from __future__ import annotations

import csv
import io
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select

from .. import audit
from ..extensions import db
from ..mail.smtp_url import check_address
from ..models import Device, EndUser, LegacyImport, LegacyMigration
from ..models.base import utcnow
from ..models.legacy_import import IMPORTED

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 20_000
COLUMNS = ("udid", "serial_number", "user_email", "model")
_UDID = re.compile(r"^([0-9A-F]{40}|[0-9A-F]{8}-[0-9A-F]{16})$")
_SERIAL = re.compile(r"^[0-9A-Z]{8,14}$")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
CHUNK = 500


class ImportRefused(ValueError):
    """The upload as a whole is not a legacy-device CSV (no row was looked at)."""


@dataclass
class ImportReport:
    batch_id: str
    imported: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "imported": self.imported, "rejected": self.rejected}


def _rows(data: bytes) -> list[tuple[int, dict[str, str]]]:
    if len(data) > MAX_BYTES:
        raise ImportRefused(f"the file is larger than {MAX_BYTES // 1024 // 1024} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused("the file is not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader, [])]
    except csv.Error as exc:
        raise ImportRefused(f"the header is not CSV: {exc}") from None
    if sorted(header) != sorted(COLUMNS):
        raise ImportRefused(f"the first line must name the columns {', '.join(COLUMNS)} (found {', '.join(header)[:200] or 'nothing'})")
    rows = []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(rows) >= MAX_ROWS:
                raise ImportRefused(f"at most {MAX_ROWS} devices in one file")
            rows.append((reader.line_num, dict(zip(header, values)) if len(values) == len(header) else {}))
    except csv.Error as exc:
        raise ImportRefused(f"line {reader.line_num} is not CSV: {exc}") from None
    return rows


def _check(values: dict[str, str]) -> tuple[dict[str, str] | None, str | None]:
    if not values:
        return None, f"needs exactly {len(COLUMNS)} values ({', '.join(COLUMNS)})"
    udid = values["udid"].strip().upper()
    serial = values["serial_number"].strip().upper()
    model = values["model"].strip()
    if not _UDID.match(udid):
        return None, "udid is not a UDID (40 hexadecimal digits, or 8-16 hexadecimal digits)"
    if not _SERIAL.match(serial):
        return None, "serial_number must be 8 to 14 letters and digits"
    try:
        email = check_address(values["user_email"]).lower()
    except ValueError as exc:
        return None, f"user_email: {exc}"
    if not model or len(model) > 80 or _CONTROL.search(model):
        return None, "model must be 1 to 80 characters without control characters"
    return {"udid": udid, "serial_number": serial, "user_email": email, "model": model}, None


def _known_udids(udids: list[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(udids), CHUNK):
        known.update(db.session.scalars(select(Device.udid).where(Device.udid.in_(udids[start:start + CHUNK]))))
    return known


def _owners(emails: set[str]) -> dict[str, int]:
    """Known employees by (lower-case) Managed Apple ID or e-mail."""
    owners: dict[str, int] = {}
    listed = sorted(emails)
    for start in range(0, len(listed), CHUNK):
        chunk = listed[start:start + CHUNK]
        for user_id, apple_id, email in db.session.execute(select(EndUser.id, EndUser.managed_apple_id, EndUser.email).where(
                or_(func.lower(EndUser.managed_apple_id).in_(chunk), func.lower(EndUser.email).in_(chunk)))):
            for key in (apple_id, email):
                if key and key.lower() in emails:
                    owners.setdefault(key.lower(), user_id)
    return owners


def import_legacy_devices(data: bytes, *, actor: str) -> ImportReport:
    """Import the valid rows of ``data`` in one transaction and report the rest. Commits."""
    report = ImportReport(batch_id=str(uuid.uuid4()))
    valid: list[dict[str, str]] = []
    first_line: dict[tuple[str, str], int] = {}
    for line, values in _rows(data):
        row, reason = _check(values)
        if row is not None:
            for column in ("udid", "serial_number"):
                earlier = first_line.setdefault((column, row[column]), line)
                if earlier != line:
                    row, reason = None, f"{column} repeats line {earlier}"
                    break
        if row is None:
            report.rejected.append({"line": line, "udid": (values.get("udid") or "").strip()[:60], "reason": reason})
        else:
            valid.append(row | {"line": line})
    known = _known_udids([row["udid"] for row in valid])
    for row in [r for r in valid if r["udid"] in known]:
        report.rejected.append({"line": row["line"], "udid": row["udid"], "reason": "a device with this UDID is already known"})
    valid = [r for r in valid if r["udid"] not in known]
    report.rejected.sort(key=lambda r: r["line"])
    owners = _owners({row["user_email"] for row in valid})
    now = utcnow()
    devices = [Device(enrollment_type="device", enrollment_method=IMPORTED, status=IMPORTED, udid=row["udid"],
                      managed_apple_id=row["user_email"], user_id=owners.get(row["user_email"]),
                      certificate_fingerprint="", model=row["model"], created_at=now, last_seen_at=now)
               for row in valid]
    db.session.add_all(devices)
    db.session.flush()
    for device, row in zip(devices, valid):
        db.session.add(LegacyMigration(device_id=device.id, created_at=now))
        db.session.add(LegacyImport(device_id=device.id, serial_number=row["serial_number"], batch_id=report.batch_id,
                                    imported_at=now, imported_by=actor))
        audit.record("migration.device_imported", target_type="device", target_id=device.id,
                     detail={"batch_id": report.batch_id, "line": row["line"]})
    report.imported = len(devices)
    audit.record("migration.import", target_type="migration", target_id=report.batch_id,
                 detail={"imported": report.imported, "rejected": len(report.rejected)})
    db.session.commit()
    return report
