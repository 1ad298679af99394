"""JSON shapes of the API's resources."""
from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

from ..device_reports import is_stale
from ..models import Command, Device
from ..models.device import DeviceStatus


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def json_safe(value: Any) -> Any:
    """Plist values as JSON: data as base64, dates as ISO 8601."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def device_json(device: Device, stale_after: timedelta | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": device.id,
        "enrollment_type": device.enrollment_type,
        "enrollment_method": device.enrollment_method,
        "managed_apple_id": device.managed_apple_id,
        "enrolled": device.status == DeviceStatus.ENROLLED,
        "status": device.status,
        "enrolled_at": iso(device.enrolled_at),
        "last_seen_at": iso(device.last_seen_at),
        "os_version": device.os_version,
        "build_version": device.build_version,
        "model": device.model,
        "model_name": device.model_name,
        "product_name": device.product_name,
        "device_name": device.device_name,
        "push": {"token_registered": device.push_token is not None,
                 "token_dead_at": iso(device.push_token_dead_at)},
    }
    if stale_after is not None:
        data["flagged"] = is_stale(device, stale_after)
    # User Enrollment has no UDID; a legacy enrollment has no EnrollmentID.
    if device.enrollment_type == "user":
        data["enrollment_id"] = device.enrollment_id
    else:
        data["udid"] = device.udid
    return data


def command_json(command: Command, result: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "command_uuid": command.command_uuid,
        "device_id": command.device_id,
        "request_type": command.request_type,
        "status": command.status,
        "created_at": iso(command.created_at),
        "sent_at": iso(command.sent_at),
        "completed_at": iso(command.completed_at),
        "error_chain": command.error_chain,
        "result": json_safe(result) if result is not None else None,
    }


def holdings_json(holdings) -> dict[str, Any]:
    """The inventory part of a device: the same fields the device and transparency pages show."""
    return {
        "inventory": {"facts": json_safe(dict(holdings.facts_raw)), "security": json_safe(dict(holdings.security_raw)),
                      "updated_at": iso(holdings.facts_updated_at)},
        "apps": [{"identifier": a.identifier, "name": a.name, "version": a.short_version or a.version,
                  "status": a.status, "bundle_size": a.bundle_size, "reported_by": _reported_by(a),
                  "updated_at": iso(a.updated_at)} for a in holdings.apps],
        "profiles": [{"identifier": p.identifier, "display_name": p.display_name, "organization": p.organization,
                      "uuid": p.uuid, "version": p.version, "payload_types": p.payload_types,
                      "updated_at": iso(p.updated_at)} for p in holdings.profiles],
        "certificates": [{"fingerprint_sha256": c.fingerprint, "common_name": c.common_name,
                          "is_identity": c.is_identity, "not_after": iso(c.not_after), "reported_by": _reported_by(c)}
                         for c in holdings.certificates],
        "accounts": [{"account_type": a.account_type, "declaration_identifier": a.declaration_identifier,
                      "visible_name": a.visible_name, "hostname": a.hostname, "port": a.port, "username": a.username,
                      "updated_at": iso(a.updated_at)} for a in holdings.accounts],
        "changes": [{"at": iso(c.at), "kind": c.kind, "key": c.key, "old": json_safe(c.old), "new": json_safe(c.new)}
                    for c in holdings.changes],
    }


def _reported_by(row) -> str:
    """``status``: a DDM status report listed it (and keeps it current); ``command``: an inventory command did."""
    return "status" if row.status_identifier else "command"


def audit_json(event) -> dict[str, Any]:
    return {"id": event.id, "at": iso(event.at), "actor_type": event.actor_type, "actor": event.actor,
            "action": event.action, "target_type": event.target_type, "target_id": event.target_id,
            "detail": json_safe(event.detail) if event.detail is not None else None, "remote_addr": event.remote_addr}
