"""The devices' answers to InstallApplication, Settings, RemoveApplication and ManagedApplicationList,
written onto ``app_states``.

Called by the command report (``portal.mdm.report``) inside its transaction, on its connection,
only for these request types. InstallApplication, Settings and RemoveApplication rows are matched
by the command they last sent (a superseded answer changes nothing); a ManagedApplicationList, ours
or the inventory's, confirms the installs under way by bundle ID, and a full list (the inventory's)
also notices a managed app the person deleted, which is then installed again. A new configuration (Settings)
sent to an install still under way leaves it under way: only a list confirms an install.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import Connection, and_, select, update

from mdm_core import plist, queue
from mdm_core.managed_apps import FAILED, MANAGED, app_states

from ..models import App, AppState, Command
from ..models.app import AppStatus
from ..models.profile import INSTALL
from ..profiles.delivery import retry_at
from ..profiles.results import MAX_CHAIN, describe

REQUEST_TYPES = frozenset({"InstallApplication", "Settings", "RemoveApplication", "ManagedApplicationList"})
_NOT_MANAGED = ("MCMDMErrorDomain", 12029)  # RemoveApplication of an app that is not there: it is gone
_states = AppState.__table__
MAX_IDENTIFIER = AppState.identifier.type.length


def record(connection: Connection, device_id: int, request_type: str, command_uuid: str, status: str,
           error_chain: list[dict[str, Any]] | None, sanitized: Mapping[str, Any], now: datetime) -> None:
    """Apply a finished command's answer (``status``: the command's stored status) to the device's rows."""
    if request_type == "ManagedApplicationList":
        if status == queue.ACKNOWLEDGED:
            _listed(connection, device_id, command_uuid, app_states(sanitized), now)
        return
    sent = and_(_states.c.device_id == device_id, _states.c.last_command_uuid == command_uuid)
    row = connection.execute(select(_states.c.app_id, _states.c.status, _states.c.attempts, App.bundle_id)
                             .join(App, App.id == _states.c.app_id).where(sent)).first()
    if row is None:  # not ours, or superseded: the row has moved on
        return
    if request_type == "Settings" and status == queue.ACKNOWLEDGED:
        items = sanitized.get("Settings") if isinstance(sanitized.get("Settings"), list) else []
        refused = [item for item in items if isinstance(item, Mapping) and item.get("Status") == "Error"]
        if refused:
            status, error_chain = queue.ERROR, [entry for item in refused for entry in item.get("ErrorChain") or []
                                                if isinstance(entry, Mapping)]
    done = status == queue.ACKNOWLEDGED
    if request_type == "RemoveApplication" and (done or _not_managed(error_chain)):
        connection.execute(update(_states).where(sent).values(
            status=AppStatus.REMOVED, identifier=None, last_command_uuid=None, attempts=0, next_attempt_at=None,
            error=None, error_chain=None, updated_at=now))
        return
    if done:
        values: dict[str, Any] = {"status": AppStatus.kept(row.status, AppStatus.INSTALLED), "attempts": 0,
                                  "next_attempt_at": None,
                                  "error": None, "error_chain": None, "updated_at": now}
        if request_type == "InstallApplication":
            identifier = sanitized.get("Identifier")  # the device's word: kept when it fits the column
            identifier = identifier if _bundle_id(identifier) else row.bundle_id
            values["identifier"] = identifier
            if identifier and sanitized.get("State") != "Managed":
                values["status"] = AppStatus.INSTALLING  # confirmed by a later ManagedApplicationList
        connection.execute(update(_states).where(sent).values(**values))
        return
    connection.execute(update(_states).where(sent).values(
        status=AppStatus.kept(row.status, AppStatus.FAILED), error=describe(error_chain),
        error_chain=(error_chain or [])[:MAX_CHAIN], attempts=row.attempts + 1,
        next_attempt_at=retry_at(row.attempts + 1, now), last_command_uuid=None, updated_at=now))


def _asked_for_some(connection: Connection, command_uuid: str) -> bool:
    """Whether the list was asked for some apps only (``Identifiers``: the worker's check of installs under way),
    which says nothing of the others; the inventory's asks for all. A command no longer stored says nothing either."""
    payload = connection.execute(select(Command.payload).where(Command.command_uuid == command_uuid)).scalar()
    return payload is None or bool(plist.loads(payload)["Command"].get("Identifiers"))


def _bundle_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_IDENTIFIER and value.isprintable()


def _not_managed(error_chain: list[dict[str, Any]] | None) -> bool:
    return any((entry.get("ErrorDomain"), entry.get("ErrorCode")) == _NOT_MANAGED for entry in error_chain or [])


def _listed(connection: Connection, device_id: int, command_uuid: str, listed: dict[str, str], now: datetime) -> None:
    """Installs under way that the list shows managed are installed, failed ones fail (and are tried
    again); with a full list, an installed app missing from it is installed again."""
    rows = connection.execute(select(_states.c.app_id, _states.c.status, _states.c.identifier,
                                     _states.c.attempts, _states.c.last_command_uuid)
                              .where(_states.c.device_id == device_id, _states.c.operation == INSTALL,
                                     _states.c.status.in_((AppStatus.INSTALLING, AppStatus.INSTALLED)),
                                     _states.c.identifier.isnot(None)).order_by(_states.c.app_id)).all()
    filtered: bool | None = None  # read once needed
    for row in rows:
        state = listed.get(row.identifier)
        values: dict[str, Any] | None = None
        if state in MANAGED and row.status == AppStatus.INSTALLING:
            # installed; one whose new configuration waits to be sent (no command) is still to be configured, and
            # one whose Settings is out keeps the command to match its answer
            values = {"status": AppStatus.INSTALLED if row.last_command_uuid else AppStatus.PENDING}
            if row.last_command_uuid == command_uuid:
                values["last_command_uuid"] = None
        elif state in FAILED:
            values = {"status": AppStatus.FAILED, "identifier": None, "last_command_uuid": None,
                      "error": f"the device reports the app {state}", "attempts": row.attempts + 1,
                      "next_attempt_at": retry_at(row.attempts + 1, now)}
        elif state is None and row.status == AppStatus.INSTALLED:
            if filtered is None:
                filtered = _asked_for_some(connection, command_uuid)
            if not filtered:
                values = {"status": AppStatus.PENDING, "identifier": None, "last_command_uuid": None}
        if values is not None:  # only as read: a row the server marked meanwhile (to send again) keeps its mark
            as_read = and_(_states.c.status == row.status,
                           _states.c.last_command_uuid.is_not_distinct_from(row.last_command_uuid))
            connection.execute(update(_states).where(_states.c.device_id == device_id, _states.c.app_id == row.app_id,
                                                     as_read).values(updated_at=now, **values))
