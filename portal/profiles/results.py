"""The devices' answers to InstallProfile, RemoveProfile and ProfileList, written onto ``profile_states``.

Called by the command report (``portal.mdm.report``) inside its transaction, on its connection,
only for these three request types: Idle and every other report never pay for it. A row is matched
by the command it last sent, so the answer to a command an edit or a scope change superseded
changes nothing.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import Connection, bindparam, select, update

from mdm_core import queue
from mdm_core.results import ResultError, parse_inventory

from ..models import Profile, ProfileState
from ..models.profile import INSTALL, ProfileStatus
from .delivery import retry_at

REQUEST_TYPES = frozenset({"InstallProfile", "RemoveProfile", "ProfileList"})
#: RemoveProfile of a profile the device does not have: it is gone, which is what was asked.
_NOT_FOUND = ("MCProfileErrorDomain", 1001)
MAX_CHAIN = 20
_states = ProfileState.__table__
_DONE = {"InstallProfile": ProfileStatus.INSTALLED, "RemoveProfile": ProfileStatus.REMOVED}
_SENT = (_states.c.device_id == bindparam("for_device")) & (_states.c.last_command_uuid == bindparam("sent_uuid"))


#: A done install or removal: the row the command went out for (``for_device``, ``sent_uuid``) takes
#: ``done_status`` (``done_status``), with nothing to read first. The command connection runs it with the
#: settling of the command, in one statement (``portal.mdm.statements.settle_and_hand_out``).
WRITE_DONE = update(_states).where(_SENT).values(
    status=bindparam("done_status"), attempts=0, next_attempt_at=None, error=None, error_chain=None,
    updated_at=bindparam("now"))


def done_status(request_type: str, status: str, error_chain: list[dict[str, Any]] | None) -> str | None:
    """The status a finished InstallProfile or RemoveProfile (``status``: the command's stored status) gives
    its row when ``WRITE_DONE`` writes it; None when ``record`` must (a failure counts attempts, a
    ProfileList compares)."""
    if request_type in _DONE and (status == queue.ACKNOWLEDGED
                                  or (request_type == "RemoveProfile" and _not_found(error_chain))):
        return _DONE[request_type]
    return None


def record(connection: Connection, device_id: int, request_type: str, command_uuid: str, status: str,
           error_chain: list[dict[str, Any]] | None, sanitized: Mapping[str, Any], now: datetime) -> None:
    """Apply a finished command's answer (``status``: the command's stored status) to the device's rows."""
    if request_type == "ProfileList":
        if status == queue.ACKNOWLEDGED:
            _confirm(connection, device_id, sanitized, now)
        return
    values = {"for_device": device_id, "sent_uuid": command_uuid}
    done = done_status(request_type, status, error_chain)
    if done is not None:
        connection.execute(WRITE_DONE, {**values, "done_status": done, "now": now})
        return
    attempts = connection.execute(select(_states.c.attempts).where(_SENT), values).scalar()
    if attempts is None:  # superseded: the row has moved on
        return
    connection.execute(update(_states).where(_SENT).values(
        status=ProfileStatus.FAILED, error=describe(error_chain), error_chain=(error_chain or [])[:MAX_CHAIN],
        attempts=attempts + 1, next_attempt_at=retry_at(attempts + 1, now), last_command_uuid=None, updated_at=now),
        values)


def describe(error_chain: list[dict[str, Any]] | None) -> str:
    """The device's errors in one line, outermost first."""
    parts = [f"{entry.get('LocalizedDescription') or entry.get('USEnglishDescription') or 'error'} "
             f"({entry.get('ErrorDomain', '?')} {entry.get('ErrorCode', '?')})" for entry in error_chain or []]
    return ("; ".join(parts) or "the device reported an error without details")[:2000]


def _not_found(error_chain: list[dict[str, Any]] | None) -> bool:
    return any((entry.get("ErrorDomain"), entry.get("ErrorCode")) == _NOT_FOUND for entry in error_chain or [])


def _confirm(connection: Connection, device_id: int, sanitized: Mapping[str, Any], now: datetime) -> None:
    """A profile we installed that the list no longer holds (the person removed it) is installed again.

    The device's installed rows are read and compared in Python: their number is ours to bound, the
    list's is the device's."""
    try:
        listed = {record.identifier for record in parse_inventory("ProfileList", sanitized).records}
    except ResultError:
        return
    installed = connection.execute(
        select(_states.c.profile_id, Profile.identifier).join(Profile, Profile.id == _states.c.profile_id)
        .where(_states.c.device_id == device_id, _states.c.operation == INSTALL,
               _states.c.status == ProfileStatus.INSTALLED)).all()
    missing = [profile_id for profile_id, identifier in installed if identifier not in listed]
    if missing:
        connection.execute(update(_states).where(_states.c.device_id == device_id, _states.c.profile_id.in_(missing))
                           .values(status=ProfileStatus.PENDING, last_command_uuid=None, updated_at=now))
