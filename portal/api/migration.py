"""The migration from legacy device enrollment to User Enrollment (DESIGN.md section 6)."""
from __future__ import annotations

from typing import Any

from flask import g, request

from ..errors import api_error
from ..extensions import db
from ..ids import MAX_ID, json_ids
from ..migration.actions import MigrationRefused, send_unenrollment
from ..migration.state import MigrationQueryError, MigrationRow, counts, page, parse_query, stalled_after
from .. import remote_commands
from . import bp
from .auth import require_scope
from .serializers import iso


def migration_device_json(row: MigrationRow) -> dict[str, Any]:
    device, migration, command = row.device, row.migration, row.command
    return {
        "id": device.id,
        "udid": device.udid,
        "managed_apple_id": device.managed_apple_id,
        "user_id": device.user_id,
        "state": row.state,
        "waiting_for": row.waiting_for,
        "device_status": device.status,
        "model": device.model,
        "os_version": device.os_version,
        "device_name": device.device_name,
        "last_seen_at": iso(device.last_seen_at),
        "notified_at": iso(migration.notified_at) if migration else None,
        "notice_seen_at": iso(migration.notice_seen_at) if migration else None,
        "unenroll_sent_at": iso(migration.unenroll_sent_at) if migration else None,
        "unenroll_command": ({"command_uuid": command.command_uuid, "status": command.status,
                              "completed_at": iso(command.completed_at), "error_chain": command.error_chain}
                             if command is not None else None),
        "unenrolled_at": iso(row.left_at),
    }


@bp.get("/migration")
@require_scope("read", "migration")
def migration_overview():
    try:
        query = parse_query(request.args)
    except MigrationQueryError as exc:
        return api_error(400, "bad_request", str(exc))
    rows, next_cursor = page(query)
    return {"counts": counts(), "stalled_after_days": stalled_after().days,
            "devices": [migration_device_json(r) for r in rows], "next": None if next_cursor is None else str(next_cursor)}


def requested_device_ids() -> tuple[list[int] | None, Any]:
    """The JSON body's ``device_ids``, or None and the 400/413 answer for a missing, bad or too long list."""
    payload = request.get_json(silent=True)
    device_ids = json_ids(payload.get("device_ids")) if isinstance(payload, dict) else None
    if not device_ids:
        return None, api_error(400, "bad_request", f'send JSON {{"device_ids": [legacy device ids, 1 to {MAX_ID}]}}')
    if len(device_ids) > remote_commands.BULK_MAX_DEVICES:
        return None, api_error(413, "too_many_devices", f"send at most {remote_commands.BULK_MAX_DEVICES} devices at once")
    return device_ids, None


@bp.post("/migration/unenroll")
@require_scope("migration")
def migration_unenroll():
    device_ids, refusal = requested_device_ids()
    if refusal is not None:
        return refusal
    try:
        bulk, sent = send_unenrollment(device_ids, actor=f"token:{g.api_token.name}")
    except MigrationRefused as exc:
        db.session.rollback()
        return api_error(422, "not_legacy_enrollments", exc.refused)
    return {"bulk_id": bulk.id, "queued": len(sent),
            "devices": [{"device_id": c.device_id, "command_uuid": c.command_uuid} for c in sent]}, 202
