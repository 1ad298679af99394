"""Sending commands to devices, one or many, always through the capability check.

Whatever a page offers, every command passes ``mdm_core.capabilities.check_command`` for the
device's enrollment type here, so a forbidden command is refused whoever asks.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from mdm_core import queue
from mdm_core.capabilities import Problem, check_command
from mdm_core.commands import CommandError, command_plist, new_command_uuid, remove_enrollment
from mdm_core.profile_check import check_command_profile

from . import audit
from .extensions import db
from .models import BulkCommand, Command, Device
from .models.device import DeviceStatus
from .push.outbox import request_push

BULK_MAX_DEVICES = 10_000


class CommandRefused(ValueError):
    """The command may not go to this device; ``problems`` says why."""

    def __init__(self, reason: str, problems: list[Problem] | None = None) -> None:
        super().__init__(reason)
        self.problems = problems or []

    def detail(self) -> Any:
        return [p.to_dict() for p in self.problems] if self.problems else str(self)


def enrollment_profile_identifier() -> str:
    """The PayloadIdentifier of our enrollment profiles (see ``enrollment_grants.mint_profile``)."""
    return f"{current_app.config.get('PROFILE_IDENTIFIER_PREFIX', 'org.byod-mdm')}.enrollment"


def unenroll_command() -> dict[str, Any]:
    return remove_enrollment(enrollment_profile_identifier())


def refusal(device: Device, command: dict[str, Any]) -> CommandRefused | None:
    """Why ``command`` may not go to ``device``: its enrollment, the command and its keys, and
    the profile an InstallProfile carries are all checked against Apple's rules."""
    if device.status != DeviceStatus.ENROLLED:
        return CommandRefused("the device is not enrolled")
    problems = [p for p in check_command(device.enrollment_type, command) if p.severity == "error"]
    if not problems:
        problems = check_command_profile(device.enrollment_type, command)
    if problems:
        return CommandRefused("; ".join(p.message for p in problems), problems)
    return None


def enqueue(device: Device, command: dict, *, created_by: str | None, bulk_id: str | None = None,
            audited: bool = True) -> Command:
    """Add a checked command to a device's queue and record a push that wakes the device
    (in the same transaction); the caller commits.

    ``audited=False`` is for the server's own scheduled inventory, which is audited once per sweep.
    """
    command_uuid = new_command_uuid()
    row = Command(command_uuid=command_uuid, device_id=device.id, request_type=command["RequestType"],
                  payload=command_plist(command_uuid, command), status=queue.QUEUED, created_by=created_by,
                  bulk_id=bulk_id)
    db.session.add(row)
    if audited:
        audit.record("command.queued", target_type="device", target_id=device.id,
                     detail={"request_type": command["RequestType"], "command_uuid": command_uuid,
                             **({"bulk_id": bulk_id} if bulk_id else {})})
    request_push(device)
    return row


def send(device: Device, command: dict[str, Any], *, created_by: str | None, bulk_id: str | None = None,
         audited: bool = True) -> Command:
    """Queue ``command`` for ``device`` after the capability check; the caller commits."""
    refused = refusal(device, command)
    if refused is not None:
        raise refused
    try:
        return enqueue(device, command, created_by=created_by, bulk_id=bulk_id, audited=audited)
    except CommandError as exc:  # schema-valid, yet not writable as a plist (a control character in a string)
        raise CommandRefused(str(exc), exc.problems) from None


@dataclass(frozen=True)
class BulkOutcome:
    bulk: BulkCommand
    results: list[dict[str, Any]]  # {"device_id", "status": 201|404|409|422, "command_uuid"|"error"}


def send_bulk(device_ids: Iterable[int], build: Callable[[Device], dict[str, Any]], request_type: str, *,
              created_by: str | None) -> BulkOutcome:
    """Queue one command per device (built per device: its enrollment type may change the keys).

    Each device gets its own answer; a refusal for one never stops the others. Commits.
    """
    ids = list(dict.fromkeys(device_ids))[:BULK_MAX_DEVICES]
    bulk = BulkCommand(id=str(uuid.uuid4()), request_type=request_type, created_by=created_by, queued=0, refused=[])
    db.session.add(bulk)
    devices: dict[int, Device] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        devices.update({d.id: d for d in db.session.scalars(select(Device).where(Device.id.in_(chunk)))})
    results, refused = [], []
    for device_id in ids:
        device = devices.get(device_id)
        if device is None:
            results.append({"device_id": device_id, "status": 404, "error": "no such device"})
            refused.append({"device_id": device_id, "reason": "no such device"})
            continue
        try:
            row = send(device, build(device), created_by=created_by, bulk_id=bulk.id, audited=False)
        except CommandRefused as problem:
            status = 409 if device.status != DeviceStatus.ENROLLED else 422
            results.append({"device_id": device_id, "status": status, "error": str(problem)})
            refused.append({"device_id": device_id, "reason": str(problem)})
            continue
        results.append({"device_id": device_id, "status": 201, "command_uuid": row.command_uuid})
    bulk.queued = len(ids) - len(refused)
    bulk.refused = refused
    audit.record("command.bulk_queued", target_type="bulk_command", target_id=bulk.id,
                 detail={"request_type": request_type, "queued": bulk.queued, "refused": len(refused)})
    db.session.commit()
    return BulkOutcome(bulk, results)


def bulk_progress(bulk: BulkCommand) -> dict[str, int]:
    """How many of the bulk's commands are in each status, plus the refused ones."""
    rows = db.session.execute(select(Command.status, func.count()).where(Command.bulk_id == bulk.id)
                              .group_by(Command.status)).all()
    counts = dict.fromkeys(queue.STATUSES, 0)
    counts.update({status: count for status, count in rows})
    counts["refused"] = len(bulk.refused or [])
    return counts
