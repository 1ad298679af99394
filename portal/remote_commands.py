"""Sending commands to devices, one or many, always through the capability check.

Whatever a page offers, every command passes ``mdm_core.capabilities.check_command`` for the
device's enrollment type here, so a forbidden command is refused whoever asks. Many devices at once
go through ``CommandBatch``: the same check per device, then one multi-row insert and one push upsert.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import func, insert, select

from mdm_core import queue
from mdm_core.capabilities import Problem, check_command
from mdm_core.commands import CommandError, CommandPlists, command_plist, new_command_uuid, remove_enrollment
from mdm_core.profile_check import check_command_profile

from . import audit
from .extensions import db
from .models import BulkCommand, Command, Device
from .models.device import DeviceStatus
from .models.base import utcnow
from .push.outbox import can_push, request_push, request_pushes

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


def refusal(device: Device, command: dict[str, Any], *,
            profile_problems: list[Problem] | None = None) -> CommandRefused | None:
    """Why ``command`` may not go to ``device``: its enrollment, the command and its keys, and
    the profile an InstallProfile carries are all checked against Apple's rules.

    ``profile_problems`` is the verdict on that profile for the device's enrollment type when the
    caller already has it (``CommandBatch`` checks a profile once for many devices)."""
    if device.status != DeviceStatus.ENROLLED:
        return CommandRefused("the device is not enrolled")
    problems = [p for p in check_command(device.enrollment_type, command) if p.severity == "error"]
    if not problems:
        problems = check_command_profile(device.enrollment_type, command) if profile_problems is None \
            else profile_problems
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


class CommandBatch:
    """Commands for many devices, queued set-based: ``add`` checks and builds each device's command,
    ``write`` inserts them all in one statement and records their pushes in one upsert.

    The profile an InstallProfile carries is checked once per enrollment type and payload, not per
    device (the verdict depends on those alone); a caller that checked the unsigned profile itself
    passes its verdict. A command object added again in a row (one profile for many devices) is
    written as a plist once. The caller commits after ``write``.
    """

    def __init__(self, *, created_by: str | None, bulk_id: str | None = None) -> None:
        self.created_by, self.bulk_id = created_by, bulk_id
        self._rows: list[dict[str, Any]] = []
        self._pushes: dict[int, Device] = {}
        self._verdicts: dict[tuple[str, bytes], list[Problem]] = {}
        self._plists: CommandPlists | None = None  # of the last command added

    def add(self, device: Device, command: dict[str, Any], *, profile_problems: list[Problem] | None = None) -> str:
        """Check and build ``command`` for ``device`` (CommandRefused if it may not go); returns its CommandUUID."""
        if profile_problems is None:
            profile_problems = self._profile_problems(device.enrollment_type, command)
        refused = refusal(device, command, profile_problems=profile_problems)
        if refused is not None:
            raise refused
        command_uuid = new_command_uuid()
        try:
            if self._plists is None or self._plists.command is not command:  # the same command object: written once
                self._plists = CommandPlists(command)
            payload = self._plists.for_uuid(command_uuid)
        except CommandError as exc:  # schema-valid, yet not writable as a plist (a control character in a string)
            raise CommandRefused(str(exc), exc.problems) from None
        self._rows.append({"command_uuid": command_uuid, "device_id": device.id, "request_type": command["RequestType"],
                           "payload": payload, "status": queue.QUEUED, "created_by": self.created_by,
                           "bulk_id": self.bulk_id})
        if can_push(device):
            self._pushes[device.id] = device
        return command_uuid

    def _profile_problems(self, enrollment_type: str, command: dict[str, Any]) -> list[Problem] | None:
        payload = command.get("Payload")
        if command.get("RequestType") != "InstallProfile" or not isinstance(payload, bytes):
            return None  # refusal checks it (nothing to read, or a value to refuse)
        key = (enrollment_type, payload)  # bytes cache their hash: one payload for the fleet costs one hash
        if key not in self._verdicts:
            self._verdicts[key] = check_command_profile(enrollment_type, command)
        return self._verdicts[key]

    def write(self) -> int:
        """Queue the commands added since the last write and their pushes; returns how many were queued."""
        rows, self._rows = self._rows, []
        if rows:
            now = utcnow()
            db.session.flush()  # a bulk row the commands name
            db.session.execute(insert(Command.__table__), [{**row, "created_at": now} for row in rows])
        request_pushes(list(self._pushes.values()))
        self._pushes = {}
        return len(rows)


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
    batch = CommandBatch(created_by=created_by, bulk_id=bulk.id)
    results, refused = [], []
    for device_id in ids:
        device = devices.get(device_id)
        if device is None:
            results.append({"device_id": device_id, "status": 404, "error": "no such device"})
            refused.append({"device_id": device_id, "reason": "no such device"})
            continue
        try:
            command_uuid = batch.add(device, build(device))
        except CommandRefused as problem:
            status = 409 if device.status != DeviceStatus.ENROLLED else 422
            results.append({"device_id": device_id, "status": status, "error": str(problem)})
            refused.append({"device_id": device_id, "reason": str(problem)})
            continue
        results.append({"device_id": device_id, "status": 201, "command_uuid": command_uuid})
    batch.write()
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


def bulk_results(bulk: BulkCommand, limit: int, after: int | None) -> tuple[list[tuple[str, Any]], int | None]:
    """One page of a bulk command's per-device results by device id after ``after``: its commands (rows of
    device id, command UUID, status, completion, error chain and the device's Managed Apple ID) and the devices it
    refused (``{"device_id", "reason"}``), merged in device order as ``("command", row)`` or ``("refused", entry)``;
    and the cursor of the next page, or None. A page reads ``limit`` + 1 commands, not the bulk's thousands."""
    statement = (select(Command.device_id, Command.command_uuid, Command.status, Command.completed_at,
                        Command.error_chain, Device.managed_apple_id)
                 .outerjoin(Device, Device.id == Command.device_id).where(Command.bulk_id == bulk.id)
                 .order_by(Command.device_id).limit(limit + 1))
    if after is not None:
        statement = statement.where(Command.device_id > after)
    items = [("command", row) for row in db.session.execute(statement)]
    items += [("refused", entry) for entry in bulk.refused or [] if after is None or entry["device_id"] > after]
    items.sort(key=lambda item: item[1]["device_id"] if item[0] == "refused" else item[1].device_id)
    if len(items) <= limit:
        return items, None
    last = items[limit - 1]
    return items[:limit], last[1]["device_id"] if last[0] == "refused" else last[1].device_id
