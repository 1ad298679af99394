"""Device and command-queue storage for the check-in and command endpoints.

Each request is one short transaction. The protocol rules come from ``mdm_core.queue``;
this module only reads and writes rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import Connection, Row, Update, bindparam, or_, select, update
from sqlalchemy.orm import scoped_session

from mdm_core import queue
from mdm_core.checkin import CheckinMessage
from mdm_core.commands import CommandReport

from .. import audit
from ..extensions import db
from ..models import Command, Device, EnrollmentGrant
from ..models.base import utcnow
from ..pki import push_topic


_devices = Device.__table__
_commands = Command.__table__
# Hot-path statements, built once: Core, only the columns the protocol needs.
_TOUCH_DEVICE = {
    enrollment_type: update(_devices).where(column == bindparam("identifier"))
    .values(last_seen_at=bindparam("now"))
    .returning(_devices.c.id, _devices.c.certificate_fingerprint, _devices.c.status)
    for enrollment_type, column in (("user", _devices.c.enrollment_id), ("device", _devices.c.udid))
}
_REPORTED_COMMAND = select(_commands.c.id, _commands.c.status).where(
    _commands.c.command_uuid == bindparam("command_uuid"), _commands.c.device_id == bindparam("device_id"))


@cache
def _next_command(deliverable: frozenset[str]) -> Update:
    """Pick the device's oldest deliverable command and mark it sent, in one statement."""
    # Plain bound parameters, not an expanding IN: that would re-render the SQL on every call.
    is_deliverable = or_(*(_commands.c.status == bindparam(f"deliverable_{status}", status)
                           for status in sorted(deliverable)))
    next_id = (select(_commands.c.id).where(_commands.c.device_id == bindparam("for_device"), is_deliverable)
               .order_by(_commands.c.id).limit(1).scalar_subquery())
    return (update(_commands).where(_commands.c.id == next_id).values(status=queue.SENT, sent_at=bindparam("now"))
            .returning(_commands.c.command_uuid, _commands.c.payload))


@dataclass
class Outcome:
    status: int = 200
    refusal: str | None = None
    removed: bool = False
    next_command: tuple[str, bytes] | None = None


def _refused(status: int, reason: str, transaction: Connection | scoped_session = db.session) -> Outcome:
    transaction.rollback()
    return Outcome(status=status, refusal=reason)


def _device(enrollment_type: str, identifier: str) -> Device | None:
    column = Device.enrollment_id if enrollment_type == "user" else Device.udid
    return db.session.scalar(select(Device).where(column == identifier))


def _pinned_device(enrollment_type: str, identifier: str, fingerprint: str) -> Device | Outcome:
    return _check_pinned(_device(enrollment_type, identifier), fingerprint)


def _touch_pinned_device(connection: Connection, enrollment_type: str, identifier: str, fingerprint: str,
                         now: datetime) -> Row | Outcome:
    """The device's ``id``, stamped as seen at ``now``, if ``fingerprint`` is the certificate pinned to it.

    One ``UPDATE ... RETURNING`` on the hot path instead of an ORM load and flush; a refusal
    rolls the stamp back.
    """
    device = connection.execute(_TOUCH_DEVICE[enrollment_type], {"identifier": identifier, "now": now}).first()
    return _check_pinned(device, fingerprint, connection)


def _check_pinned(device: Device | Row | None, fingerprint: str,
                  transaction: Connection | scoped_session = db.session) -> Device | Row | Outcome:
    if device is None:
        return _refused(403, "unknown enrollment", transaction)
    if device.certificate_fingerprint != fingerprint:
        return _refused(403, "certificate does not match the enrollment it claims", transaction)
    if device.status == "unenrolled":
        transaction.rollback()
        return Outcome(status=403, removed=True)
    return device


def handle_checkin(message: CheckinMessage, fingerprint: str) -> Outcome:
    topic, _ = push_topic()
    if message.topic != topic:
        return _refused(400, "Topic is not this server's push topic")
    handler = _CHECKIN_HANDLERS[message.message_type]
    outcome = handler(message, fingerprint)
    if outcome.refusal is None and not outcome.removed:
        db.session.commit()
    return outcome


def _authenticate(message: CheckinMessage, fingerprint: str) -> Outcome:
    grant = db.session.scalar(select(EnrollmentGrant).where(EnrollmentGrant.certificate_fingerprint == fingerprint))
    if grant is None:
        return _refused(403, "certificate was not issued for an enrollment")
    if grant.enrollment_type != message.enrollment_type:
        return _refused(403, f"certificate was issued for a {grant.enrollment_type} enrollment")
    device = _device(message.enrollment_type, message.identifier)
    bound = db.session.scalar(select(Device).where(Device.certificate_fingerprint == fingerprint))
    if bound is not None and bound is not device:
        return _refused(403, "certificate already belongs to another enrollment")
    if device is not None and device.certificate_fingerprint != fingerprint and device.status != "unenrolled":
        return _refused(403, "enrollment is active with another certificate")
    if device is None:
        device = Device(enrollment_type=message.enrollment_type,
                        enrollment_id=message.identifier if message.enrollment_type == "user" else None,
                        udid=message.identifier if message.enrollment_type == "device" else None)
        db.session.add(device)
    device.enrollment_method = grant.enrollment_method
    device.grant_id = grant.id
    device.user_id = grant.user_id
    device.managed_apple_id = grant.managed_apple_id
    device.certificate_fingerprint = fingerprint
    device.status = "pending"
    device.topic = message.topic
    device.push_token = device.push_magic = None
    device.unenrolled_at = None
    for column in ("os_version", "build_version", "product_name", "model", "model_name", "device_name"):
        value = getattr(message, column)
        if value is not None:
            setattr(device, column, value)
    device.last_seen_at = utcnow()
    return Outcome()


def _token_update(message: CheckinMessage, fingerprint: str) -> Outcome:
    device = _pinned_device(message.enrollment_type, message.identifier, fingerprint)
    if isinstance(device, Outcome):
        return device
    first = device.status == "pending"
    device.push_token = message.token
    device.push_magic = message.push_magic
    device.push_token_dead_at = None
    device.status = "enrolled"
    device.last_seen_at = utcnow()
    if first:
        device.enrolled_at = device.last_seen_at
        db.session.flush()
        audit.record("device.enrolled", actor_type="device", actor=device.managed_apple_id,
                     target_type="device", target_id=device.id,
                     detail={"enrollment_type": device.enrollment_type, "method": device.enrollment_method})
    return Outcome()


def _checkout(message: CheckinMessage, fingerprint: str) -> Outcome:
    device = _pinned_device(message.enrollment_type, message.identifier, fingerprint)
    if isinstance(device, Outcome):
        return Outcome() if device.removed else device
    device.status = "unenrolled"
    device.unenrolled_at = device.last_seen_at = utcnow()
    audit.record("device.unenrolled", actor_type="device", actor=device.managed_apple_id,
                 target_type="device", target_id=device.id, detail={"reason": "CheckOut from device"})
    return Outcome()


_CHECKIN_HANDLERS = {"Authenticate": _authenticate, "TokenUpdate": _token_update, "CheckOut": _checkout}


def handle_report(report: CommandReport, body: bytes, fingerprint: str) -> Outcome:
    """Record a command report and pick the next command, in one Core transaction.

    The hot path runs on its own connection rather than the ORM session, whose bookkeeping
    costs more CPU than the two or three statements themselves.
    """
    enrollment_type, identifier = ("user", report.enrollment_id) if report.enrollment_id else ("device", report.udid)
    now = utcnow()
    with db.engine.begin() as connection:
        device = _touch_pinned_device(connection, enrollment_type, identifier, fingerprint, now)
        if isinstance(device, Outcome):
            return device
        if report.status != queue.IDLE:
            command = connection.execute(_REPORTED_COMMAND, {"command_uuid": report.command_uuid,
                                                             "device_id": device.id}).first()
            if command is None or command.status == queue.QUEUED:
                return _refused(400, "status for a command this enrollment was not sent", connection)
            if not queue.is_final(command.status):  # a repeated report of a finished command changes nothing
                changes = {"status": queue.status_from_report(report.status)}
                if queue.is_final(changes["status"]):
                    changes.update(completed_at=now, result=body, error_chain=report.error_chain or None)
                connection.execute(update(_commands).where(_commands.c.id == command.id).values(changes))
        next_command = connection.execute(_next_command(queue.deliverable_statuses(report.status)),
                                          {"for_device": device.id, "now": now}).first()
    outcome = Outcome()
    if next_command is not None:
        outcome.next_command = (next_command.command_uuid, next_command.payload)
    return outcome
