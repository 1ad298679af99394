"""Reading devices' declaration sets: one statement for any number of devices, and the per-device server
tokens of declarations that use variables.

A declaration with variables (``$EMAIL`` ...) is filled in for each device when fetched, so its
ServerToken is per device: the stored token (content) hashed with that device's values of the variables it
uses. It changes when the content or one of those values changes, and a device never fetches what did not change.
"""
from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from ..models import Declaration, DeclarationAssignment
from ..person_values import BatchValues, filled_with, values_of
from .generated import Member

_declarations = Declaration.__table__
_assignments = DeclarationAssignment.__table__
#: Every device's set (``device_ids``): a Core statement built once, the DDM endpoints read it per request.
_MEMBERS = (select(_assignments.c.device_id, _declarations.c.type, _declarations.c.identifier, _declarations.c.kind,
                   _declarations.c.server_token, _declarations.c.variables, _declarations.c.refers_to)
            .join(_declarations, _declarations.c.id == _assignments.c.declaration_id)
            .where(_assignments.c.device_id.in_(bindparam("device_ids", expanding=True))))


def device_token(server_token: str, values: dict[str, Any], variables: str) -> str:
    """The ServerToken one device sees for a declaration filled in with ``variables`` (its stored names): the
    content's, hashed with those variables' values only, so another of the person's values changing moves none."""
    return _hashed(server_token, filled_with(values, variables))


def _hashed(server_token: str, filled: bytes) -> str:
    return hashlib.sha256(server_token.encode() + b"\n" + filled).hexdigest()[:32]


class ServedTokens:
    """The server tokens devices are served now, for as many declarations as are asked of one read of the devices'
    values (read when a declaration with variables first needs them): what a status report names when the device
    holds the version served now. Each device's values are encoded once per set of variables."""

    def __init__(self, session: Session | Connection, device_ids: Collection[int]) -> None:
        self._values = BatchValues(session, device_ids)
        self._filled: dict[str, dict[int, bytes]] = {}

    def of(self, server_token: str, variables: str, device_id: int) -> str:
        """The token of the declaration stored with ``server_token`` and ``variables`` that ``device_id`` is served."""
        if not variables:
            return server_token
        filled = self._filled.setdefault(variables, {})
        if device_id not in filled:
            filled[device_id] = filled_with(self._values.of(device_id), variables)
        return _hashed(server_token, filled[device_id])


def members_of(session: Session | Connection, device_ids: Collection[int], *,
               device_tokens: bool = True) -> dict[int, list[Member]]:
    """Each device's stored declarations, with the server tokens it sees (with ``device_tokens=False``, the
    stored tokens: without reading the people's values, for who needs only the set's shape)."""
    sets: dict[int, list[Member]] = {device_id: [] for device_id in device_ids}
    if not sets:
        return sets
    rows = session.execute(_MEMBERS, {"device_ids": list(sets)}).all()
    per_device = device_tokens and any(row[5] for row in rows)
    values = values_of(session, {row[0] for row in rows if row[5]}) if per_device else {}
    for device_id, kind_type, identifier, kind, token, variables, refers_to in rows:
        if variables and per_device:
            token = device_token(token, values.get(device_id, {}), variables)
        sets[device_id].append(Member(kind_type, identifier, kind, token, tuple(refers_to or ())))
    return sets
