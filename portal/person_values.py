"""The values each device's person fills variables with (``$EMAIL``, ``$FULL_NAME`` ...), read set-based, and
the digest of those a copy was filled in with.

Profiles, app configurations and declarations are filled in per device when sent (``mdm_core.profile_variables``).
Each keeps the digest of the values its copy used (a profile's or an app's row per device; a declaration's
per-device server token), so when a person's values change exactly the copies that used a changed value are
sent again, and no other.
"""
from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select
from sqlalchemy.orm import Session

from mdm_core.ddm.declarations import canonical_json
from mdm_core.profile_variables import device_values

from .models import Device, EndUser

_devices = Device.__table__
_people = EndUser.__table__
#: A device minted through the API has no user row: its person is found by Managed Apple ID (the latest
#: sign-in last, so it wins; the same one at every read).
_VALUES = (select(_devices.c.id, _devices.c.managed_apple_id, _devices.c.enrollment_id, _people.c.email, _people.c.name)
           .select_from(_devices.outerjoin(_people, or_(
               _people.c.id == _devices.c.user_id,
               and_(_devices.c.user_id.is_(None), _people.c.managed_apple_id == _devices.c.managed_apple_id))))
           .where(_devices.c.id.in_(bindparam("device_ids", expanding=True)))
           .order_by(_people.c.last_login_at.is_(None), _people.c.last_login_at, _people.c.id))

#: Devices per statement reading values: a driver takes at most 65,535 parameters.
VALUES_CHUNK = 10_000


def values_of(session: Session | Connection, device_ids: Collection[int]) -> dict[int, dict[str, str | None]]:
    """The variables' values of each device (its person's Managed Apple ID, e-mail and name, its enrollment ID)."""
    ids, values = list(device_ids), {}
    for start in range(0, len(ids), VALUES_CHUNK):
        rows = session.execute(_VALUES, {"device_ids": ids[start:start + VALUES_CHUNK]})
        values.update({device_id: device_values(managed_apple_id=apple_id, email=email, full_name=name,
                                                enrollment_id=enrollment_id)
                       for device_id, apple_id, enrollment_id, email, name in rows})
    return values


def filled_with(values: dict[str, Any], variables: str) -> bytes:
    """The values of ``variables`` (space-separated names) a copy is filled in with, encoded canonically."""
    return canonical_json({name: values.get(name) for name in variables.split()})


def filled_digest(values: dict[str, Any], variables: str) -> str | None:
    """What a device's row keeps of the values its copy was filled in with (None: it uses none)."""
    return hashlib.sha256(filled_with(values, variables)).hexdigest()[:32] if variables else None


class BatchValues:
    """The values of a batch's devices, read in one statement when a copy with variables first needs them."""

    def __init__(self, session: Session | Connection, device_ids: Collection[int]) -> None:
        self._session, self._device_ids = session, device_ids
        self._values: dict[int, dict[str, str | None]] | None = None

    def of(self, device_id: int) -> dict[str, str | None]:
        if self._values is None:
            self._values = values_of(self._session, self._device_ids)
        return self._values.get(device_id) or device_values()


def refilled(session: Session, rows: Collection[tuple[int, int, str | None, str]]) -> list[dict[str, int]]:
    """Of rows ``(device_id, item_id, filled digest last sent, variables)``, those whose copy was filled in with
    other values than the device's now, as ``{"device": ..., "item": ...}`` parameters of an update (sorted by device,
    then item, so two such updates lock shared rows in one order)."""
    values = values_of(session, {row[0] for row in rows}) if rows else {}
    return [{"device": device_id, "item": item_id} for device_id, item_id, sent, variables in sorted(rows)
            if sent != filled_digest(values.get(device_id) or device_values(), variables)]
