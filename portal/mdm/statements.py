"""The command connection's SQL: Core statements built once, run on the DBAPI cursor, with the
row types they return.

Only the columns the protocol needs are read. A statement that returns a row says which slice
of it is which row type (``DEVICE``, ``NEXT``...), computed here once. The statements named
``*_exchange`` and ``settle_and_hand_out*`` are PostgreSQL only: data-modifying CTEs let one
statement stamp, settle and hand out, atomically on its own.
"""
from __future__ import annotations

from functools import cache
from typing import NamedTuple

from sqlalchemy import CTE, ColumnElement, Update, and_, bindparam, exists, or_, select, true, update

from mdm_core import queue

from ..database.driver import DriverStatement
from ..inventory import records as inventory
from ..models import Command, Device, DeviceInventory
from .pinning import proven

_devices = Device.__table__
_commands = Command.__table__
_inventories = DeviceInventory.__table__


class DeviceRow(NamedTuple):
    """What serving a report needs of the device: its id, its kind, and what the pin rule reads."""
    id: int
    enrollment_type: str
    certificate_fingerprint: str | None
    status: str
    access_token_hash: str | None


class CommandRow(NamedTuple):
    """The command a report is about."""
    id: int
    status: str
    request_type: str
    payload: bytes  # the command plist as sent


#: The command handed out: ``(command_uuid, payload)``, as ``queue.response_for`` takes it.
NextCommand = tuple[str, bytes]

DEVICE = slice(0, len(DeviceRow._fields))


def identifier_column(enrollment_type: str) -> ColumnElement:
    """What an enrollment is known by: EnrollmentID (User Enrollment) or UDID (device enrollment)."""
    return _devices.c.enrollment_id if enrollment_type == "user" else _devices.c.udid


def _touch(enrollment_type: str) -> Update:
    """Stamp the device's last contact and return its ``DeviceRow``."""
    return (update(_devices).where(identifier_column(enrollment_type) == bindparam("identifier"))
            .values(last_seen_at=bindparam("now")).returning(*(_devices.c[name] for name in DeviceRow._fields)))


def _hand_out(device_id: ColumnElement, deliverable: frozenset[str], *, besides_reported: bool = False) -> Update:
    """Mark the device's oldest deliverable command sent and return it (``NextCommand``).

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


def _settle(kind: str) -> Update:
    """How a report updates the command it is about (``command_id``): ``finish`` gives it a final
    status, its result and error chain; ``set_status`` only a status (NotNow)."""
    settle = update(_commands).where(_commands.c.id == bindparam("command_id"))
    if kind == "finish":
        return settle.values(status=bindparam("status"), completed_at=bindparam("now"),
                             error_chain=bindparam("error_chain"), result=bindparam("result"))
    return settle.values(status=bindparam("status"))


#: ``DeviceRow`` of the device a request names, stamped; no row for an unknown enrollment.
TOUCH_DEVICE = {enrollment_type: DriverStatement(_touch(enrollment_type)) for enrollment_type in ("user", "device")}
#: ``CommandRow`` of the command a report names (``command_uuid``), if it is the device's.
REPORTED_COMMAND = DriverStatement(select(*(_commands.c[name] for name in CommandRow._fields)).where(
    _commands.c.command_uuid == bindparam("command_uuid"), _commands.c.device_id == bindparam("device_id")))
SETTLE = {kind: DriverStatement(_settle(kind)) for kind in ("finish", "set_status")}


@cache
def next_command(deliverable: frozenset[str]) -> DriverStatement:
    """Hand out the oldest of the device's (``for_device``) commands in a ``deliverable`` status."""
    return DriverStatement(_hand_out(bindparam("for_device"), deliverable))


def _target(enrollment_type: str, *extra: ColumnElement) -> CTE:
    """The enrollment a request names: its ``DeviceRow`` columns, then ``extra`` columns."""
    return select(*(_devices.c[name] for name in DeviceRow._fields), *extra).where(
        identifier_column(enrollment_type) == bindparam("identifier")).cte("target")


def _touch_if_proven(target: CTE) -> CTE:
    """Stamp the device's last contact only if the request passes the pin rule: a refused request writes nothing."""
    return (update(_devices).where(_devices.c.id == target.c.id, proven(target)).values(last_seen_at=bindparam("now"))
            .returning(_devices.c.id).cte("device"))


#: What ``idle_exchange`` returns: the ``DeviceRow`` (``DEVICE``), then the ``NextCommand``, NULLs when none.
IDLE_NEXT = slice(DEVICE.stop, DEVICE.stop + 2)


@cache
def idle_exchange(enrollment_type: str) -> DriverStatement:
    """PostgreSQL, outside a transaction block: an Idle report as one statement.

    Idle is the request every device makes after every push: read the device, stamp it and hand
    out its next command if the request passes the pin rule. The device row comes back either
    way, for the Python form of the rule to say why a request was refused.
    """
    target = _target(enrollment_type)
    device = _touch_if_proven(target)
    handed_out = _hand_out(select(device.c.id).scalar_subquery(),
                           queue.deliverable_statuses(queue.IDLE)).cte("handed_out")
    return DriverStatement(select(*target.c, handed_out.c.command_uuid, handed_out.c.payload)
                           .select_from(target.outerjoin(handed_out, true())))


_ANSWERS = {kind: inventory.STORED_ANSWER_COLUMNS[kind][1:] for kind in ("facts", "security")}
# What ``status_exchange`` returns, in order: the DeviceRow (DEVICE), the device columns the facts
# are mirrored on, the CommandRow (NULLs when the command is not found), whether the device has an
# inventory row (NULL when not, or when the command carries no answer), then the stored answers.
_MIRRORED = slice(DEVICE.stop, DEVICE.stop + len(inventory.MIRRORED_COLUMNS))
COMMAND = slice(_MIRRORED.stop, _MIRRORED.stop + len(CommandRow._fields))
_HAS_INVENTORY = COMMAND.stop
_ANSWER_AT = {"facts": _HAS_INVENTORY + 1, "security": _HAS_INVENTORY + 1 + len(_ANSWERS["facts"])}


@cache
def status_exchange(enrollment_type: str) -> DriverStatement:
    """PostgreSQL, outside a transaction block: stamp the device if the request passes the pin
    rule, and read the command the report names and, when that is a facts or security inventory
    command, the device's stored answers (``stored_answer``).

    With ``settle_and_hand_out`` a command status costs two statements and no BEGIN or COMMIT:
    each round trip costs the server about as much CPU as the Python around it.
    """
    target = _target(enrollment_type, *inventory.MIRRORED_COLUMNS)
    device = _touch_if_proven(target)
    reported = _commands.alias("reported")
    found = and_(reported.c.command_uuid == bindparam("command_uuid"), reported.c.device_id == target.c.id)
    carries_answer = or_(*(reported.c.request_type == request_type for request_type in sorted(inventory.ANSWER_KINDS)))
    joined = (target.outerjoin(device, true()).outerjoin(reported, found)
              .outerjoin(_inventories, and_(_inventories.c.device_id == target.c.id, carries_answer)))
    return DriverStatement(select(*target.c, *(reported.c[name] for name in CommandRow._fields),
                                  _inventories.c.device_id, *_ANSWERS["facts"], *_ANSWERS["security"])
                           .select_from(joined))


def stored_answer(row: tuple, kind: str) -> inventory.StoredAnswer:
    """The stored answer of ``kind`` in a ``status_exchange`` row; the facts with the mirrored columns."""
    at = _ANSWER_AT[kind]
    return inventory.StoredAnswer(row[_HAS_INVENTORY] is not None, row[at], row[at + 1],
                                  row[_MIRRORED] if kind == "facts" else ())


def _settle_and_hand_out_ctes(kind: str, deliverable: frozenset[str]) -> tuple[CTE, CTE]:
    """Settle the reported command if it is still in the status it was read with
    (``seen_status``), and hand out the next command.

    The status guard makes a report handled twice at once (a device's retry racing its first
    attempt) settle the command once.
    """
    settled = (_settle(kind).where(_commands.c.status == bindparam("seen_status"))
               .returning(_commands.c.id).cte("settled"))
    handed_out = _hand_out(bindparam("for_device"), deliverable, besides_reported=True).cte("handed_out")
    return settled, handed_out


@cache
def settle_and_hand_out(kind: str, deliverable: frozenset[str], answer_kind: str | None = None,
                        result: Update | None = None) -> DriverStatement:
    """PostgreSQL: settle the reported command, store the inventory answer it carried
    (``answer_kind``) or run the ``result`` update of a desired-state kind (an UPDATE of a table
    with a ``device_id``, such as ``portal.profiles.results.WRITE_DONE``) only if it settled it, and
    return the ``NextCommand``; atomic on its own."""
    settled, handed_out = _settle_and_hand_out_ctes(kind, deliverable)
    # PostgreSQL runs every data-modifying CTE whatever the outer query reads; the joins only render them
    joined = handed_out.outerjoin(settled, true())
    if answer_kind is not None:
        answer = (inventory.answer_update(answer_kind).where(exists(select(settled.c.id)))
                  .returning(_inventories.c.device_id).cte("answer"))
        joined = joined.outerjoin(answer, true())
    if result is not None:
        written = result.where(exists(select(settled.c.id))).returning(result.table.c.device_id).cte("result")
        joined = joined.outerjoin(written, true())
    return DriverStatement(select(handed_out.c.command_uuid, handed_out.c.payload).select_from(joined))


#: What ``settle_and_hand_out_saying`` returns: whether it settled the command (NULL when not), then the NextCommand.
SETTLED, SETTLED_NEXT = 0, slice(1, 3)


@cache
def settle_and_hand_out_saying(kind: str, deliverable: frozenset[str]) -> DriverStatement:
    """PostgreSQL, in a transaction: ``settle_and_hand_out``, saying whether it settled the
    command, for the transaction to write the inventory only if it did. Always one row."""
    settled, handed_out = _settle_and_hand_out_ctes(kind, deliverable)
    return DriverStatement(select(select(settled.c.id).scalar_subquery(),
                                  select(handed_out.c.command_uuid).scalar_subquery(),
                                  select(handed_out.c.payload).scalar_subquery()))
