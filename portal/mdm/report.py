"""Recording a command report, the command connection's work once the signature is checked.

Every device makes this request after every push and after every command, so it runs prebuilt
Core statements (``portal.mdm.statements``) on a connection of its own rather than through the
ORM session: the session's bookkeeping, and even SQLAlchemy's execution layer, cost more CPU than
the statements themselves. ``record_report`` takes one of four ways:

- ``_postgres_idle``: an Idle report on PostgreSQL, one statement outside a transaction block;
- ``_postgres_status``: a command status on PostgreSQL, two statements outside a transaction
  block (an installed or removed profile's row is written by the second). An inventory answer
  that needs more (a new inventory row, changed facts or device columns, a list of rows) is
  handed over, with what was read and decided, to
- ``_postgres_handover``: one transaction that settles the command and, only if that settled
  it, writes the inventory, or a failed InstallProfile or RemoveProfile, a ProfileList or an app
  command's answer onto the device's desired state (``portal.profiles.results``, ``portal.apps.results``);
- ``_in_transaction``: every report on SQLite, in one transaction a refusal rolls back.

The connection is not pinged first: if it is dead, the report is handled again on a new one (a
report handled twice changes nothing more: a command is finished once, and a command sent but
not acknowledged is sent again). The protocol rules come from ``mdm_core.queue``; the pin rule
(certificate, ended enrollment, access token) from ``portal.mdm.pinning``.
"""
from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection

from mdm_core import queue
from mdm_core.account_driven import hash_access_token
from mdm_core.commands import CommandReport, queried_keys
from mdm_core.results import INVENTORY_REQUEST_TYPES, NEEDS_MANAGED_APPS, sanitize_report, stored_result

from ..database.driver import autocommit
from ..database.kept import kept_connections
from ..database.retry import retried_on_disconnect
from ..inventory import records as inventory
from ..inventory.history import recorded
from ..models.base import utcnow
from ..apps import results as app_results
from ..profiles import results as profile_results
from . import pinning
from .refusals import Refusal
from .statements import (COMMAND, DEVICE, IDLE_NEXT, REPORTED_COMMAND, SETTLE, SETTLED, SETTLED_NEXT, TOUCH_DEVICE,
                         CommandRow, DeviceRow, NextCommand, idle_exchange, next_command, settle_and_hand_out,
                         settle_and_hand_out_saying, status_exchange, stored_answer)


def record_report(report: CommandReport, fingerprint: str, access_token: str | None = None) -> Refusal | NextCommand | None:
    """Record a command report and hand out the device's next command, atomically.

    Returns the refusal, the next command, or None when nothing is deliverable.
    """
    return retried_on_disconnect(kept_connections(),
                                 lambda connection: _record(connection, report, fingerprint, access_token))


def _record(connection: Connection, report: CommandReport, fingerprint: str,
            access_token: str | None) -> Refusal | NextCommand | None:
    enrollment_type, identifier = ("user", report.enrollment_id) if report.enrollment_id else ("device", report.udid)
    now = utcnow()
    if connection.dialect.name != "postgresql":
        return _in_transaction(connection, enrollment_type, identifier, now, report, fingerprint, access_token)
    values = {"identifier": identifier, "now": now, "fingerprint": fingerprint,  # pinning.proven's parameters too
              "token_hash": None if access_token is None else hash_access_token(access_token)}
    with autocommit(connection):
        if report.status == queue.IDLE:
            return _postgres_idle(connection, enrollment_type, values, fingerprint, access_token)
        outcome = _postgres_status(connection, enrollment_type, values, report, fingerprint, access_token)
    if outcome.__class__ is _Handover:
        return _postgres_handover(connection, outcome, report)
    return outcome


def _postgres_idle(connection: Connection, enrollment_type: str, values: dict, fingerprint: str,
                   access_token: str | None) -> Refusal | NextCommand | None:
    row = idle_exchange(enrollment_type).first(connection, values)
    refused = pinning.refusal(row and DeviceRow(*row[DEVICE]), fingerprint, access_token)
    if refused is not None:
        return refused
    handed_out = row[IDLE_NEXT]
    return handed_out if handed_out[0] is not None else None


class _Handover(NamedTuple):
    """A command status ``_postgres_status`` began (device stamped, command read) and a transaction finishes."""
    device: DeviceRow
    command: CommandRow
    kind: str  # of statements.SETTLE
    values: dict  # the settle's parameters; with the result once the report is sanitised
    deliverable: frozenset[str]
    write: inventory.AnswerWrite | None  # a facts or security answer; None: a list of rows or a profile answer, not sanitised yet


def _postgres_status(connection: Connection, enrollment_type: str, values: dict, report: CommandReport,
                     fingerprint: str, access_token: str | None) -> Refusal | NextCommand | None | _Handover:
    row = status_exchange(enrollment_type).first(connection, {**values, "command_uuid": report.command_uuid})
    device = row and DeviceRow(*row[DEVICE])
    refused = pinning.refusal(device, fingerprint, access_token)
    if refused is not None:
        return refused
    command = row[COMMAND]
    command = CommandRow(*command) if command[0] is not None else None
    now = values["now"]
    settling = _settling(command, report, now)
    deliverable = queue.deliverable_statuses(report.status)
    if settling is None:
        return next_command(deliverable).first(connection, {"for_device": device.id, "now": now})
    if settling.__class__ is Refusal:
        return settling
    kind, settle_values = settling
    answer_kind = None
    if kind == "finish":
        if command.request_type in _RESULT_TYPES:
            done = profile_results.done_status(command.request_type, settle_values["status"],
                                               settle_values["error_chain"])
            if done is None:
                return _Handover(device, command, kind, settle_values, deliverable, None)
            # a profile installed or removed (most of a rollout's reports): written with the settling
            settle_values["result"] = stored_result(_sanitized(connection, device, command, report))
            return settle_and_hand_out(kind, deliverable, result=profile_results.WRITE_DONE).first(
                connection, {**settle_values, "for_device": device.id, "sent_uuid": report.command_uuid,
                             "done_status": done})
        if _updates_inventory(command, settle_values):
            answer_kind = inventory.ANSWER_KINDS.get(command.request_type)
            if answer_kind is None:
                return _Handover(device, command, kind, settle_values, deliverable, None)
        sanitized = _sanitized(connection, device, command, report)
        settle_values["result"] = stored_result(sanitized)
        if answer_kind is not None:
            reported = inventory.read_inventory(command.request_type, sanitized, device.id,
                                                queries=_queries(command, report))
            if reported is None:  # logged; the result is stored, the inventory stays as it was
                answer_kind = None
            else:
                write = inventory.plan_answer(reported, stored_answer(row, answer_kind),
                                              lambda told: recorded(connection, device.id, told))
                if not write.answer_only:
                    return _Handover(device, command, kind, settle_values, deliverable, write)
                settle_values["answer"] = write.answer
    return settle_and_hand_out(kind, deliverable, answer_kind).first(connection, {**settle_values, "for_device": device.id})


def _postgres_handover(connection: Connection, handover: _Handover, report: CommandReport) -> NextCommand | None:
    """Settle the command under the same status guard as ``_postgres_status`` and, only if that
    settled it, write the inventory, in one transaction: a report handled twice at once writes
    it once. The device was stamped by ``_postgres_status``."""
    device, command, values, write = handover.device, handover.command, handover.values, handover.write
    with connection.begin():
        if write is None:
            sanitized = _sanitized(connection, device, command, report)
            values["result"] = stored_result(sanitized)
        row = settle_and_hand_out_saying(handover.kind, handover.deliverable).first(
            connection, {**values, "for_device": device.id})
        if row[SETTLED] is not None:
            if write is not None:
                inventory.write_answer(connection, device.id, write, values["now"])
            elif _updates_inventory(command, values):
                inventory.apply_report(connection, device.id, command.request_type, sanitized, values["now"],
                                       queries=_queries(command, report))
            if command.request_type in _RESULT_TYPES:  # handed over without an inventory write: sanitized is set
                _record_results(connection, device.id, command.request_type, report.command_uuid, values["status"],
                                values["error_chain"], sanitized, values["now"])
    handed_out = row[SETTLED_NEXT]
    return handed_out if handed_out[0] is not None else None


def _in_transaction(connection: Connection, enrollment_type: str, identifier: str, now: datetime,
                    report: CommandReport, fingerprint: str, access_token: str | None) -> Refusal | NextCommand | None:
    """Any report, in one transaction: committed unless refused."""
    transaction = connection.begin()  # the statements run on the DBAPI cursor: SQLAlchemy must be told
    outcome = _recorded(connection, enrollment_type, identifier, now, report, fingerprint, access_token)
    if outcome.__class__ is Refusal:
        transaction.rollback()
    else:
        transaction.commit()
    return outcome


def _recorded(connection: Connection, enrollment_type: str, identifier: str, now: datetime,
              report: CommandReport, fingerprint: str, access_token: str | None) -> Refusal | NextCommand | None:
    row = TOUCH_DEVICE[enrollment_type].first(connection, {"identifier": identifier, "now": now})
    device = row and DeviceRow(*row)
    refused = pinning.refusal(device, fingerprint, access_token)
    if refused is not None:
        return refused
    deliverable = queue.deliverable_statuses(report.status)
    next_values = {"for_device": device.id, "now": now}
    if report.status == queue.IDLE:
        return next_command(deliverable).first(connection, next_values)
    row = REPORTED_COMMAND.first(connection, {"command_uuid": report.command_uuid, "device_id": device.id})
    command = row and CommandRow(*row)
    settling = _settling(command, report, now)
    if settling.__class__ is Refusal:
        return settling
    if settling is not None:
        kind, values = settling
        if kind == "finish":
            sanitized = _sanitized(connection, device, command, report)
            if _updates_inventory(command, values):
                inventory.apply_report(connection, device.id, command.request_type, sanitized, now,
                                       queries=_queries(command, report))
            _record_results(connection, device.id, command.request_type, report.command_uuid, values["status"],
                            values["error_chain"], sanitized, now)
            values["result"] = stored_result(sanitized)
        SETTLE[kind].first(connection, values)
    return next_command(deliverable).first(connection, next_values)


def _settling(command: CommandRow | None, report: CommandReport, now: datetime) -> Refusal | tuple[str, dict] | None:
    """How the reported command changes: the ``statements.SETTLE`` kind and its values (the
    result aside); None for a repeated report of a finished command, which changes nothing."""
    if command is None or command.status == queue.QUEUED:
        return Refusal.COMMAND_NOT_SENT
    if queue.is_final(command.status):
        return None
    status = queue.status_from_report(report.status)
    values = {"command_id": command.id, "status": status, "seen_status": command.status, "now": now}
    if queue.is_final(status):
        return "finish", {**values, "error_chain": report.error_chain or None}
    return "set_status", values


#: The desired-state kinds that read the answers of their commands (``record`` in one transaction with the report).
_RESULTS = (profile_results, app_results)
_RESULT_TYPES = frozenset().union(*(kind.REQUEST_TYPES for kind in _RESULTS))


def _record_results(connection: Connection, device_id: int, request_type: str, *args) -> None:
    for kind in _RESULTS:
        if request_type in kind.REQUEST_TYPES:
            kind.record(connection, device_id, request_type, *args)


def _updates_inventory(command: CommandRow, settle_values: dict) -> bool:
    """An acknowledged inventory command: its answer updates the device's inventory."""
    return settle_values["status"] == queue.ACKNOWLEDGED and command.request_type in INVENTORY_REQUEST_TYPES


def _sanitized(connection: Connection, device: DeviceRow, command: CommandRow, report: CommandReport) -> dict:
    """The report with only what the enrollment may reveal."""
    managed = ()
    if device.enrollment_type == "user" and command.request_type in NEEDS_MANAGED_APPS:
        managed = inventory.managed_app_identifiers(connection, device.id)
    return sanitize_report(command.request_type, device.enrollment_type, report.raw,
                           managed_app_identifiers=managed).data


def _queries(command: CommandRow, report: CommandReport) -> list[str] | None:
    """The keys a DeviceInformation command asked for (see ``Inventory.facts_after``)."""
    return queried_keys(command.payload, report.command_uuid) if command.request_type == "DeviceInformation" else None
