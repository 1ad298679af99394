"""JSON shapes of the API's resources."""
from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from ..models import Command, Device


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


def device_json(device: Device) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": device.id,
        "enrollment_type": device.enrollment_type,
        "enrollment_method": device.enrollment_method,
        "managed_apple_id": device.managed_apple_id,
        "enrolled": device.status == "enrolled",
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
