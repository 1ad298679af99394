"""The command-queue rules of the MDM protocol, as pure functions over status names.

Storage lives in the portal; these rules decide what a device's report means for a queued
command and what the server answers on the command connection. A command is finished only
when the device reports ``Acknowledged`` or ``Error``/``CommandFormatError`` for its UUID;
until then it stays deliverable, so a connection dropped after sending loses nothing.

``NotNow`` follows NanoMDM: the command is kept, but is not handed back in answer to the
very report that declined it (that would loop); it is offered again on the next poll.
"""
from __future__ import annotations

QUEUED = "queued"
SENT = "sent"
ACKNOWLEDGED = "acknowledged"
ERROR = "error"
NOT_NOW = "not_now"

STATUSES = (QUEUED, SENT, ACKNOWLEDGED, ERROR, NOT_NOW)
FINAL_STATUSES = frozenset({ACKNOWLEDGED, ERROR})
#: A command in one of these may still be delivered: the device has not answered it for good.
OPEN_STATUSES = frozenset(STATUSES) - FINAL_STATUSES

IDLE = "Idle"
_STATUS_BY_REPORT = {
    "Acknowledged": ACKNOWLEDGED,
    "Error": ERROR,
    "CommandFormatError": ERROR,
    "NotNow": NOT_NOW,
}
REPORT_STATUSES = frozenset({IDLE, *_STATUS_BY_REPORT})


class CommandStatusError(ValueError):
    """A device reported a status the protocol does not define for a command result."""


def status_from_report(report_status: str) -> str:
    """Map a device's ``Status`` for a command to the stored command status."""
    try:
        return _STATUS_BY_REPORT[report_status]
    except (KeyError, TypeError):
        raise CommandStatusError(f"{report_status!r} is not a command result status") from None


def is_final(status: str) -> bool:
    """True when the command is finished and must never be sent again."""
    if status not in STATUSES:
        raise CommandStatusError(f"{status!r} is not a command status")
    return status in FINAL_STATUSES


def skip_not_now(report_status: str) -> bool:
    """True when the next command chosen for this report must not be a NotNow'd one."""
    if report_status not in REPORT_STATUSES:
        raise CommandStatusError(f"{report_status!r} is not a status a device reports")
    return report_status == "NotNow"


def deliverable_statuses(report_status: str) -> frozenset[str]:
    """The stored statuses a command may have to be handed out in answer to this report."""
    pending = frozenset({QUEUED, SENT})
    return pending if skip_not_now(report_status) else pending | {NOT_NOW}


def response_for(next_command: tuple[str, bytes] | None) -> bytes:
    """The body of the answer to a command-connection PUT.

    ``next_command`` is ``(command_uuid, command_plist)`` of the command to deliver, or None
    when nothing is deliverable: Apple requires a zero-length body then, not an empty plist.
    """
    if next_command is None:
        return b""
    _uuid, body = next_command
    if not body:
        raise CommandStatusError("a queued command has an empty body")
    return body
