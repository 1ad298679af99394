"""Devices and their commands."""
from __future__ import annotations

import base64
import binascii

from flask import g, request
from sqlalchemy import select

from mdm_core.capabilities import command_spec

from ..device_reports import command_result
from ..errors import api_error
from ..extensions import db
from ..inventory.disclosure import holdings
from ..inventory.query import DeviceQueryError, parse_query, run_page
from ..inventory.sweep import stale_after
from ..models import Command, Device, Profile, ProfileState
from ..models.device import DeviceStatus
from ..remote_commands import CommandRefused, send
from . import bp
from .auth import require_scope
from .profile_library import state_json
from .serializers import command_json, device_json, holdings_json


@bp.get("/devices")
@require_scope("read")
def list_devices():
    try:
        query = parse_query(request.args)
    except DeviceQueryError as exc:
        return api_error(400, "bad_request", str(exc))
    stale = stale_after()
    page = run_page(db.session, query, stale)
    return {"devices": [device_json(d, stale) for d in page.devices], "next": page.next_cursor}


@bp.get("/devices/<id:device_id>")
@require_scope("read")
def get_device(device_id: int):
    device = db.session.get(Device, device_id)
    if device is None:
        return api_error(404, "not_found", f"no device {device_id}")
    held = holdings(device)
    data = device_json(device, stale_after())
    data.update(holdings_json(held))
    data["commands"] = [command_json(c, None) for c in held.commands]
    data["desired_profiles"] = [{**state_json(state), "name": name, "identifier": identifier}
                                for state, name, identifier in db.session.execute(
                                    select(ProfileState, Profile.name, Profile.identifier)
                                    .join(Profile, Profile.id == ProfileState.profile_id)
                                    .where(ProfileState.device_id == device.id).order_by(Profile.id))]
    return data


#: The command key the server sets from ``request_type``; a body may not name it again.
SERVER_COMMAND_KEYS = ("RequestType",)


def command_keys(payload: dict, endpoint_fields: tuple[str, ...]) -> dict:
    """The command keys of a JSON body: every key but the endpoint's own fields, with <data> keys decoded.

    A body that also names ``RequestType`` is refused (ValueError): the command it would send and
    the ``request_type`` the answer, the audit log and the bulk record name would differ.
    """
    keys = {k: v for k, v in payload.items() if k not in endpoint_fields}
    clashing = [name for name in SERVER_COMMAND_KEYS if name in keys]
    if clashing:
        raise ValueError(f"{', '.join(clashing)} is set from request_type; remove it from the command keys")
    return _decode_data_keys(payload["request_type"], keys)


def _decode_data_keys(request_type: str, keys: dict) -> dict:
    """JSON cannot carry bytes: keys the schema types as <data> arrive base64-encoded."""
    spec = command_spec(request_type)
    if spec is None:
        return keys
    decoded = dict(keys)
    for name, value in keys.items():
        key = spec.keys.get(name)
        if key is not None and key.type == "<data>" and isinstance(value, str):
            try:
                decoded[name] = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{name} must be base64-encoded data") from None
    return decoded


@bp.post("/devices/<id:device_id>/commands")
@require_scope("commands")
def queue_command(device_id: int):
    device = db.session.get(Device, device_id)
    if device is None:
        return api_error(404, "not_found", f"no device {device_id}")
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("request_type"), str):
        return api_error(400, "bad_request", 'send a JSON object with "request_type" and the command keys')
    if device.status != DeviceStatus.ENROLLED:
        return api_error(409, "not_enrolled", "the device is not enrolled")
    request_type = payload["request_type"]
    try:
        keys = command_keys(payload, ("request_type",))
    except ValueError as exc:
        return api_error(422, "invalid_command", str(exc))
    try:
        row = send(device, {"RequestType": request_type, **keys}, created_by=f"token:{g.api_token.name}")
    except CommandRefused as exc:
        return api_error(422, "command_not_allowed", exc.detail())
    db.session.commit()
    return {"command_uuid": row.command_uuid, "status": row.status}, 201




@bp.get("/commands/<key:command_uuid>")
@require_scope("read")
def get_command(command_uuid: str):
    command = db.session.scalar(select(Command).where(Command.command_uuid == command_uuid))
    if command is None:
        return api_error(404, "not_found", f"no command {command_uuid}")
    return command_json(command, command_result(command))
