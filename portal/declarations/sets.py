"""Reading devices' declaration sets: one statement for any number of devices, and the per-device values
of declarations that use variables.

A declaration with variables (``$EMAIL`` ...) is filled in for each device when fetched, so its
ServerToken is per device: the stored token (content) hashed with that device's values. It changes
when the content or the person's values change, and a device never fetches what did not change.
"""
from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from mdm_core.ddm.declarations import canonical_json
from mdm_core.profile_variables import device_values

from ..models import Declaration, DeclarationAssignment, Device, EndUser
from .generated import Member

_COLUMNS = (DeclarationAssignment.device_id, Declaration.type, Declaration.identifier, Declaration.kind,
            Declaration.server_token, Declaration.has_variables, Declaration.refers_to)


def values_of(session: Session, device_ids: Collection[int]) -> dict[int, dict[str, str | None]]:
    """The variables' values of each device (its person's Managed Apple ID, e-mail and name; a device minted
    through the API has no user row, its person is found by Managed Apple ID)."""
    person = or_(EndUser.id == Device.user_id,
                 and_(Device.user_id.is_(None), EndUser.managed_apple_id == Device.managed_apple_id))
    rows = session.execute(select(Device.id, Device.managed_apple_id, Device.enrollment_id, EndUser.email, EndUser.name)
                           .outerjoin(EndUser, person).where(Device.id.in_(device_ids))
                           .order_by(EndUser.last_login_at.is_(None), EndUser.last_login_at))
    return {device_id: device_values(managed_apple_id=apple_id, email=email, full_name=name, enrollment_id=enrollment_id)
            for device_id, apple_id, enrollment_id, email, name in rows}


def device_token(server_token: str, values: dict[str, Any]) -> str:
    """The ServerToken one device sees for a declaration with variables."""
    return hashlib.sha256(server_token.encode() + b"\n" + canonical_json(values)).hexdigest()[:32]


def members_of(session: Session, device_ids: Collection[int]) -> dict[int, list[Member]]:
    """Each device's stored declarations, with the server tokens it sees."""
    sets: dict[int, list[Member]] = {device_id: [] for device_id in device_ids}
    if not sets:
        return sets
    rows = session.execute(select(*_COLUMNS).join(Declaration, Declaration.id == DeclarationAssignment.declaration_id)
                           .where(DeclarationAssignment.device_id.in_(device_ids))).all()
    values = values_of(session, {row[0] for row in rows if row[5]}) if any(row[5] for row in rows) else {}
    for device_id, kind_type, identifier, kind, token, has_variables, refers_to in rows:
        if has_variables:
            token = device_token(token, values.get(device_id, {}))
        sets[device_id].append(Member(kind_type, identifier, kind, token, tuple(refers_to or ())))
    return sets
