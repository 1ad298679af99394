"""Device and command-queue storage for the check-in and command endpoints.

Each request is one short transaction; on PostgreSQL the common command-connection requests
are one or two statements, each atomic on its own. The protocol rules come from
``mdm_core.queue``; this module only reads and writes rows.

Account-Driven enrollments also authenticate with their access token on every request: the
token's hash is copied onto the device row at Authenticate, so later requests cost one hash
compare and no extra query. A missing or foreign token is refused with 403, never 401 (which
would unenroll the phone); tokens do not expire for MDM traffic.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from typing import NamedTuple

from sqlalchemy import CTE, ColumnElement, Connection, Update, and_, bindparam, exists, or_, select, true, update
from sqlalchemy.exc import IntegrityError

from mdm_core import plist, queue
from mdm_core.account_driven import access_token_matches, hash_access_token
from mdm_core.checkin import CheckinMessage
from mdm_core.commands import CommandReport, queried_keys
from mdm_core.results import INVENTORY_REQUEST_TYPES, sanitize_report

from .. import audit
from ..db_liveness import retried_on_disconnect
from ..enrollment_policy import device_limit_reached
from ..extensions import db
from ..inventory import records as inventory
from ..inventory.sweep import queue_inventory
from ..models import Command, Device, DeviceInventory, EnrollmentAccessToken, EnrollmentGrant
from ..models.command import ENROLLMENT_ENDED_ERROR_CHAIN
from ..models.base import utcnow
from ..pki import current_topic
from .driver_sql import DriverStatement, autocommit


_devices = Device.__table__
_commands = Command.__table__
_inventories = DeviceInventory.__table__


class _DeviceRow(NamedTuple):
    id: int
    enrollment_type: str
    certificate_fingerprint: str | None
    status: str
    access_token_hash: str | None


class _CommandRow(NamedTuple):
    id: int
    status: str
    request_type: str
    payload: bytes  # the command plist as sent


def _identifier_column(enrollment_type: str) -> ColumnElement:
    """What an enrollment is known by: EnrollmentID (User Enrollment) or UDID (device enrollment)."""
    return _devices.c.enrollment_id if enrollment_type == "user" else _devices.c.udid


# Hot-path statements, built once: Core, only the columns the protocol needs, run on the cursor.
def _touch(enrollment_type: str) -> Update:
    """Stamp the device's last contact and return what the pin check needs."""
    return (update(_devices).where(_identifier_column(enrollment_type) == bindparam("identifier")).values(last_seen_at=bindparam("now"))
            .returning(*(_devices.c[name] for name in _DeviceRow._fields)))


def _hand_out(device_id: ColumnElement, deliverable: frozenset[str], *, besides_reported: bool = False) -> Update:
    """Mark the device's oldest deliverable command sent and return it.

    ``besides_reported`` leaves out the command the report is about (``command_id``): in a
    statement that also updates that command, the choice would still see its old status.
    """
    # Plain bound parameters, not an expanding IN: that would re-render the SQL on every call.
    is_deliverable = or_(*(_commands.c.status == bindparam(f"deliverable_{status}", status)
                           for status in sorted(deliverable)))
    if besides_reported:
        is_deliverable = and_(is_deliverable, _commands.c.id != bindparam("command_id"))
    next_id = (select(_commands.c.id).where(_commands.c.device_id == device_id, is_deliverable)
               .order_by(_commands.c.id).limit(1).scalar_subquery())
    return (update(_commands).where(_commands.c.id == next_id)
            .values(status=bindparam("sent_status", queue.SENT), sent_at=bindparam("now"))
            .returning(_commands.c.command_uuid, _commands.c.payload))


_TOUCH_DEVICE = {enrollment_type: DriverStatement(_touch(enrollment_type)) for enrollment_type in ("user", "device")}
_REPORTED_COMMAND = DriverStatement(select(*(_commands.c[name] for name in _CommandRow._fields)).where(
    _commands.c.command_uuid == bindparam("command_uuid"), _commands.c.device_id == bindparam("device_id")))
#: How a report updates the command it is about: a final status, or NotNow.
_REPORTED_UPDATES = {
    "finish": update(_commands).where(_commands.c.id == bindparam("command_id")).values(
        status=bindparam("status"), completed_at=bindparam("now"), error_chain=bindparam("error_chain"),
        result=bindparam("result")),
    "set_status": update(_commands).where(_commands.c.id == bindparam("command_id")).values(
        status=bindparam("status")),
}
_UPDATE_REPORTED = {kind: DriverStatement(statement) for kind, statement in _REPORTED_UPDATES.items()}


@cache
def _next_command(deliverable: frozenset[str]) -> DriverStatement:
    return DriverStatement(_hand_out(bindparam("for_device"), deliverable))


@cache
def _touch_and_find(enrollment_type: str) -> DriverStatement:
    """PostgreSQL, in a transaction: stamp the device and read the command the report names, in one statement."""
    device = _touch(enrollment_type).cte("device")
    reported = _commands.alias("reported")
    found = and_(reported.c.command_uuid == bindparam("command_uuid"), reported.c.device_id == device.c.id)
    return DriverStatement(select(*device.c, *(reported.c[name] for name in _CommandRow._fields))
                           .select_from(device.outerjoin(reported, found)))


@cache
def _settle_and_hand_out(kind: str, deliverable: frozenset[str], answer_kind: str | None = None) -> DriverStatement:
    """PostgreSQL only: update the reported command if it is still in the status it was read with
    (``seen_status``), store the inventory answer it carried (``answer_kind``) only if it was,
    and hand out the next command; one statement, atomic on its own.

    The status guard makes a report handled twice at once (a device's retry racing its first
    attempt) settle the command and store its answer once.
    """
    updated = (_REPORTED_UPDATES[kind].where(_commands.c.status == bindparam("seen_status"))
               .returning(_commands.c.id).cte("updated"))
    handed_out = _hand_out(bindparam("for_device"), deliverable, besides_reported=True).cte("handed_out")
    # PostgreSQL runs every data-modifying CTE whatever the outer query reads; the joins only render them
    joined = handed_out.outerjoin(updated, true())
    if answer_kind is not None:
        answer = (inventory.answer_update(answer_kind).where(exists(select(updated.c.id)))
                  .returning(_inventories.c.device_id).cte("answer"))
        joined = joined.outerjoin(answer, true())
    return DriverStatement(select(handed_out.c.command_uuid, handed_out.c.payload).select_from(joined))


def _target(enrollment_type: str, *extra: ColumnElement) -> CTE:
    """The enrollment a request names: what the pin check needs, and ``extra`` columns."""
    return select(*(_devices.c[name] for name in _DeviceRow._fields), *extra).where(
        _identifier_column(enrollment_type) == bindparam("identifier")).cte("target")


def _touch_if_proven(target: CTE) -> CTE:
    """Stamp the device's last contact only if the request passes the pin check (the SQL form of
    ``_check_pinned``, which then says why a request was refused): a refused request writes nothing."""
    proven = and_(target.c.certificate_fingerprint == bindparam("fingerprint"), target.c.status != "unenrolled",
                  or_(target.c.access_token_hash.is_(None), target.c.access_token_hash == bindparam("token_hash")))
    return (update(_devices).where(_devices.c.id == target.c.id, proven).values(last_seen_at=bindparam("now"))
            .returning(_devices.c.id).cte("device"))


@cache
def _idle_exchange(enrollment_type: str) -> DriverStatement:
    """PostgreSQL only: an Idle report as one statement, run outside a transaction block.

    Idle is the request every device makes after every push: read the device, stamp it and hand
    out its next command if the request passes the pin check. The statement is atomic on its
    own, so there is no BEGIN or COMMIT round trip. The device row comes back either way.
    """
    target = _target(enrollment_type)
    device = _touch_if_proven(target)
    handed_out = _hand_out(select(device.c.id).scalar_subquery(),
                           queue.deliverable_statuses(queue.IDLE)).cte("handed_out")
    return DriverStatement(select(*target.c, handed_out.c.command_uuid, handed_out.c.payload)
                           .select_from(target.outerjoin(handed_out, true())))


_ANSWER_COLUMNS = (_inventories.c.device_id, *(column for kind in ("facts", "security")
                                               for column in inventory.STORED_ANSWER_COLUMNS[kind][1:]))


@cache
def _status_exchange(enrollment_type: str) -> DriverStatement:
    """PostgreSQL only, outside a transaction block: stamp the device if the request passes the
    pin check, and read the command the report names and, when that is a facts or security
    inventory command, the device's stored answers and mirrored columns (``_StatusRow``).

    With ``_settle_and_hand_out`` a command status costs two statements and no BEGIN or COMMIT:
    each round trip costs the server about as much CPU as the Python around it.
    """
    target = _target(enrollment_type, *inventory.MIRRORED_COLUMNS)
    device = _touch_if_proven(target)
    reported = _commands.alias("reported")
    found = and_(reported.c.command_uuid == bindparam("command_uuid"), reported.c.device_id == target.c.id)
    carries_answer = or_(*(reported.c.request_type == request_type for request_type in sorted(inventory.ANSWER_KINDS)))
    joined = (target.outerjoin(device, true()).outerjoin(reported, found)
              .outerjoin(_inventories, and_(_inventories.c.device_id == target.c.id, carries_answer)))
    return DriverStatement(select(*target.c, *(reported.c[name] for name in _CommandRow._fields), *_ANSWER_COLUMNS)
                           .select_from(joined))


@dataclass
class Outcome:
    status: int = 200
    refusal: str | None = None
    removed: bool = False
    next_command: tuple[str, bytes] | None = None


def _refused(status: int, reason: str) -> Outcome:
    db.session.rollback()
    return Outcome(status=status, refusal=reason)


def _device(enrollment_type: str, identifier: str) -> Device | None:
    return db.session.scalar(select(Device).where(_identifier_column(enrollment_type) == identifier))


def _pinned_device(enrollment_type: str, identifier: str, fingerprint: str, access_token: str | None) -> Device | Outcome:
    return _check_pinned(_device(enrollment_type, identifier), fingerprint, access_token)


def _check_pinned(device: Device | _DeviceRow | None, fingerprint: str, access_token: str | None
                  ) -> Device | _DeviceRow | Outcome:
    """The device if the request's certificate (and, for account-driven enrollments, its access
    token) is the one pinned to it; otherwise the refusal, with the transaction rolled back."""
    if device is None:
        return _refused(403, "unknown enrollment")
    if device.certificate_fingerprint != fingerprint:
        return _refused(403, "certificate does not match the enrollment it claims")
    if device.status == "unenrolled":
        db.session.rollback()
        return Outcome(status=403, removed=True)
    if device.access_token_hash is not None and not access_token_matches(device.access_token_hash, access_token):
        return _refused(403, "access token missing or not this enrollment's")
    return device


def handle_checkin(message: CheckinMessage, fingerprint: str, access_token: str | None = None) -> Outcome:
    if message.topic != current_topic():
        return _refused(400, "Topic is not this server's push topic")
    handler = _CHECKIN_HANDLERS[message.message_type]
    try:
        return _committed(handler(message, fingerprint, access_token))
    except IntegrityError:
        # A repeated Authenticate raced this one and inserted the enrollment's row first; run
        # once more, the handler finds that row.
        db.session.rollback()
        return _committed(handler(message, fingerprint, access_token))


def _committed(outcome: Outcome) -> Outcome:
    if outcome.refusal is None and not outcome.removed:
        db.session.commit()
    return outcome


def _authenticate(message: CheckinMessage, fingerprint: str, access_token: str | None) -> Outcome:
    grant = db.session.scalar(select(EnrollmentGrant).where(EnrollmentGrant.certificate_fingerprint == fingerprint))
    if grant is None:
        return _refused(403, "certificate was not issued for an enrollment")
    if grant.enrollment_type != message.enrollment_type:
        return _refused(403, f"certificate was issued for a {grant.enrollment_type} enrollment")
    token_hash = None
    if grant.enrollment_method == "account_driven":
        token_hash = db.session.scalar(select(EnrollmentAccessToken.token_hash)
                                       .where(EnrollmentAccessToken.grant_id == grant.id))
        if token_hash is None or not access_token_matches(token_hash, access_token):
            return _refused(403, "access token missing or not this enrollment's")
    device = _device(message.enrollment_type, message.identifier)
    bound = db.session.scalar(select(Device).where(Device.certificate_fingerprint == fingerprint))
    if bound is not None and bound is not device:
        return _refused(403, "certificate already belongs to another enrollment")
    if device is not None and device.status == "unenrolled" and message.enrollment_type == "user":
        # Every User Enrollment has a new EnrollmentID: one that ended never comes back, not even
        # with the certificate it had.
        return _refused(403, "EnrollmentID belongs to an earlier enrollment")
    if device is not None and device.certificate_fingerprint != fingerprint and device.status != "unenrolled":
        return _refused(403, "enrollment is active with another certificate")
    if grant.user is not None and device_limit_reached(grant.user, excluding_device_id=device.id if device else None):
        return _refused(403, "the user has reached the device limit")
    if device is not None and device.status == "unenrolled":  # a device enrollment's UDID row, reused
        _finish_open_commands(device.id)
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
    device.access_token_hash = token_hash
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


def _token_update(message: CheckinMessage, fingerprint: str, access_token: str | None) -> Outcome:
    device = _pinned_device(message.enrollment_type, message.identifier, fingerprint, access_token)
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
        queue_inventory(device, now=device.enrolled_at)
    return Outcome()


def _checkout(message: CheckinMessage, fingerprint: str, access_token: str | None) -> Outcome:
    device = _pinned_device(message.enrollment_type, message.identifier, fingerprint, access_token)
    if isinstance(device, Outcome):
        return Outcome() if device.removed else device
    device.status = "unenrolled"
    device.unenrolled_at = device.last_seen_at = utcnow()
    _finish_open_commands(device.id)
    audit.record("device.unenrolled", actor_type="device", actor=device.managed_apple_id,
                 target_type="device", target_id=device.id, detail={"reason": "CheckOut from device"})
    return Outcome()


def _finish_open_commands(device_id: int) -> None:
    """End the commands of an enrollment that ended: the device will never answer them, and a
    later enrollment reusing the row (a device enrollment's UDID) must not receive them."""
    open_commands = and_(Command.device_id == device_id, Command.status.in_(sorted(queue.OPEN_STATUSES)))
    db.session.execute(update(Command).where(open_commands)
                       .values(status=queue.ERROR, completed_at=utcnow(), error_chain=ENROLLMENT_ENDED_ERROR_CHAIN)
                       .execution_options(synchronize_session=False))


_CHECKIN_HANDLERS = {"Authenticate": _authenticate, "TokenUpdate": _token_update, "CheckOut": _checkout}


def _sanitized(connection: Connection, device: _DeviceRow, command: _CommandRow, report: CommandReport) -> dict:
    """The report with only what the enrollment may reveal."""
    managed = ()
    if device.enrollment_type == "user" and command.request_type == "InstalledApplicationList":
        managed = inventory.managed_app_identifiers(connection, device.id)
    return sanitize_report(command.request_type, device.enrollment_type, report.raw,
                           managed_app_identifiers=managed).data


def _queries(command: _CommandRow, report: CommandReport) -> list[str] | None:
    """The keys a DeviceInformation command asked for (see ``Inventory.facts_after``)."""
    return queried_keys(command.payload, report.command_uuid) if command.request_type == "DeviceInformation" else None


def _stored_result(connection: Connection, device: _DeviceRow, command: _CommandRow, status: str,
                   report: CommandReport, now: datetime) -> bytes:
    """The sanitised report; an acknowledged inventory command also updates the device's inventory tables."""
    sanitized = _sanitized(connection, device, command, report)
    if status == queue.ACKNOWLEDGED and command.request_type in INVENTORY_REQUEST_TYPES:
        inventory.apply_report(connection, device.id, command.request_type, sanitized, now,
                               queries=_queries(command, report))
    return plist.dumps(sanitized)


def handle_report(report: CommandReport, fingerprint: str, access_token: str | None = None) -> Outcome:
    """Record a command report and pick the next command, atomically.

    Every device makes this request after every push and after every command, so it runs
    prebuilt Core statements on a connection of its own rather than through the ORM session:
    the session's bookkeeping, and even SQLAlchemy's execution layer, cost more CPU than the
    statements themselves. On PostgreSQL the common reports need no transaction block (see
    ``_exchange_status``). The connection is not pinged first: if it is dead, the report is
    handled again on a new one (a report handled twice changes nothing more: a command is
    finished once, and a command sent but not acknowledged is sent again).
    """
    return retried_on_disconnect(db.engine, lambda connection: _handle_report(connection, report, fingerprint,
                                                                                access_token))


def _handle_report(connection: Connection, report: CommandReport, fingerprint: str,
                   access_token: str | None) -> Outcome:
    enrollment_type, identifier = ("user", report.enrollment_id) if report.enrollment_id else ("device", report.udid)
    now = utcnow()
    if connection.dialect.name == "postgresql":
        values = {"identifier": identifier, "now": now, "fingerprint": fingerprint,
                  "token_hash": None if access_token is None else hash_access_token(access_token)}
        with autocommit(connection):
            if report.status == queue.IDLE:
                outcome = _exchange_idle(connection, enrollment_type, values, fingerprint, access_token)
            else:
                outcome = _exchange_status(connection, enrollment_type, values, report, fingerprint, access_token)
        if outcome is not None:
            return outcome
    transaction = connection.begin()  # the statements run on the DBAPI cursor: SQLAlchemy must be told
    outcome = _record_report(connection, enrollment_type, identifier, now, report, fingerprint, access_token)
    if outcome.refusal is None and not outcome.removed:
        transaction.commit()
    return outcome


def _exchange_idle(connection: Connection, enrollment_type: str, values: dict, fingerprint: str,
                   access_token: str | None) -> Outcome:
    row = _idle_exchange(enrollment_type).first(connection, values)
    device = _check_pinned(row and _DeviceRow(*row[:5]), fingerprint, access_token)
    if isinstance(device, Outcome):
        return device
    return _delivered(row[5:] if row[5] is not None else None)


class _StatusRow(NamedTuple):
    """What ``_status_exchange`` returns, sliced."""
    device: _DeviceRow
    command: _CommandRow | None
    stored: dict[str, inventory.StoredAnswer]  # by kind; the facts with the device's mirrored columns

    @classmethod
    def of(cls, row: tuple) -> _StatusRow:
        device_end, mirrored_end = len(_DeviceRow._fields), len(_DeviceRow._fields) + len(inventory.MIRRORED_COLUMNS)
        command_end = mirrored_end + len(_CommandRow._fields)
        command = row[mirrored_end:command_end]
        has_row, facts, facts_at, security, security_at = row[command_end:]
        mirrored = row[device_end:mirrored_end]
        return cls(_DeviceRow(*row[:device_end]), _CommandRow(*command) if command[0] is not None else None,
                   {"facts": inventory.StoredAnswer(has_row is not None, facts, facts_at, mirrored),
                    "security": inventory.StoredAnswer(has_row is not None, security, security_at)})


def _exchange_status(connection: Connection, enrollment_type: str, values: dict, report: CommandReport,
                     fingerprint: str, access_token: str | None) -> Outcome | None:
    """A command status in two statements outside a transaction block (PostgreSQL); None when
    the report needs a transaction: an inventory answer that adds a row, records changes or
    updates device columns, or a list of rows."""
    row = _status_exchange(enrollment_type).first(connection, {**values, "command_uuid": report.command_uuid})
    found = row and _StatusRow.of(row)
    device = _check_pinned(found and found.device, fingerprint, access_token)
    if isinstance(device, Outcome):
        return device
    now = values["now"]
    settled = _settled(connection, device.id, found.command, report, now)
    if isinstance(settled, Outcome):
        return settled
    kind, update_values = settled
    command, answer_kind = found.command, None
    if kind == "finish":
        if update_values["status"] == queue.ACKNOWLEDGED and command.request_type in INVENTORY_REQUEST_TYPES:
            answer_kind = inventory.ANSWER_KINDS.get(command.request_type)
            if answer_kind is None:
                return None
        sanitized = _sanitized(connection, device, command, report)
        if answer_kind is not None:
            reported = inventory.read_inventory(command.request_type, sanitized, device.id,
                                                queries=_queries(command, report))
            if reported is None:  # logged; the result is stored, the inventory stays as it was
                answer_kind = None
            else:
                write = inventory.plan_answer(reported, found.stored[answer_kind])
                if not write.answer_only:
                    return None
                update_values["answer"] = write.answer
        update_values["result"] = plist.dumps(sanitized)
    return _delivered(_settle_and_hand_out(kind, queue.deliverable_statuses(report.status), answer_kind).first(
        connection, {**update_values, "for_device": device.id}))


def _settled(connection: Connection, device_id: int, command: _CommandRow | None, report: CommandReport,
             now: datetime) -> Outcome | tuple[str, dict]:
    """How the reported command changes (``_REPORTED_UPDATES`` kind and values, result aside),
    or the outcome of a report that changes nothing: refused, or repeating a finished command's."""
    if command is None or command.status == queue.QUEUED:
        return Outcome(status=400, refusal="status for a command this enrollment was not sent")
    if queue.is_final(command.status):  # a repeated report of a finished command changes nothing
        return _delivered(_next_command(queue.deliverable_statuses(report.status)).first(
            connection, {"for_device": device_id, "now": now}))
    status = queue.status_from_report(report.status)
    values = {"command_id": command.id, "status": status, "seen_status": command.status, "now": now}
    if queue.is_final(status):
        return "finish", {**values, "error_chain": report.error_chain or None}
    return "set_status", values


def _record_report(connection: Connection, enrollment_type: str, identifier: str, now: datetime,
                   report: CommandReport, fingerprint: str, access_token: str | None) -> Outcome:
    """A report in a transaction: every report on SQLite, and on PostgreSQL a command status
    ``_exchange_status`` leaves. PostgreSQL runs it in two statements where SQLite needs four
    (data-modifying CTEs)."""
    combined = connection.dialect.name == "postgresql" and report.status != queue.IDLE
    if combined:
        row = _touch_and_find(enrollment_type).first(
            connection, {"identifier": identifier, "now": now, "command_uuid": report.command_uuid})
        device_row, command_row = (row[:5], row[5:]) if row else (None, None)
    else:
        device_row = _TOUCH_DEVICE[enrollment_type].first(connection, {"identifier": identifier, "now": now})
    device = _check_pinned(device_row and _DeviceRow(*device_row), fingerprint, access_token)
    if isinstance(device, Outcome):
        return device
    deliverable = queue.deliverable_statuses(report.status)
    next_values = {"for_device": device.id, "now": now}
    if report.status == queue.IDLE:
        return _delivered(_next_command(deliverable).first(connection, next_values))
    if not combined:
        command_row = _REPORTED_COMMAND.first(connection, {"command_uuid": report.command_uuid, "device_id": device.id})
    command = _CommandRow(*command_row) if command_row and command_row[0] is not None else None
    settled = _settled(connection, device.id, command, report, now)
    if isinstance(settled, Outcome):
        return settled
    kind, values = settled
    if kind == "finish":
        values["result"] = _stored_result(connection, device, command, values["status"], report, now)
    if combined:
        return _delivered(_settle_and_hand_out(kind, deliverable).first(connection, {**values, **next_values}))
    _UPDATE_REPORTED[kind].first(connection, values)
    return _delivered(_next_command(deliverable).first(connection, next_values))


def _delivered(next_command: tuple | None) -> Outcome:
    return Outcome(next_command=next_command and (next_command[0], next_command[1]))
