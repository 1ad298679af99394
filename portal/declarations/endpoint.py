"""The answers to a DDM device's check-in endpoints, for a device whose identity ``portal.mdm.declarative``
has proven: ``tokens``, ``declaration-items``, ``declaration/<type>/<identifier>`` and ``status``.

Each costs a few short statements over Core rows (no ORM objects): the stored token (``sync`` keeps it
current; a stale row is computed on the spot, so a device gets the truth even before the worker runs),
the device's set in one join, or one declaration of that set. A declaration outside the device's set,
another enrollment's included, is ``NotInSet`` (the view answers 404).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from mdm_core.ddm.declarations import declaration_document
from mdm_core.ddm.documents import Endpoint, declaration_items, declarations_token, tokens_document
from mdm_core.profile_variables import VariableError, substitute

from ..models import Declaration, DeclarationAssignment
from . import generated
from .served import device_url
from .sets import device_token, members_of, values_of


_declarations = Declaration.__table__
_assignments = DeclarationAssignment.__table__
#: One declaration of one device's set, by kind and identifier: a Core statement built once (hot path).
_IN_SET = (select(_declarations.c.type, _declarations.c.payload, _declarations.c.server_token,
                  _declarations.c.has_variables, _declarations.c.profile_id,
                  _declarations.c.asset_data.isnot(None).label("served"))
           .join(_assignments, _assignments.c.declaration_id == _declarations.c.id)
           .where(_assignments.c.device_id == bindparam("device_id"),
                  _declarations.c.identifier == bindparam("identifier"), _declarations.c.kind == bindparam("kind")))


class NotInSet(LookupError):
    """The device asked for a declaration its set does not hold; the message says which."""


class DdmDevice(NamedTuple):
    """The device row a DDM request is served for (read with its ``ddm_enrollments`` row in one statement)."""

    id: int
    declarations_token: str | None
    stale: bool
    token_changed_at: datetime | None
    enabled_at: datetime


def tokens(session: Session, device: DdmDevice) -> dict[str, Any]:
    token = device.declarations_token
    if device.stale or token is None:
        token = declarations_token(generated.items(members_of(session, [device.id])[device.id]))
    return tokens_document(token, device.token_changed_at or device.enabled_at)


def manifest(session: Session, device: DdmDevice) -> dict[str, Any]:
    return declaration_items(generated.items(members_of(session, [device.id])[device.id]))


def declaration(session: Session, device: DdmDevice, endpoint: Endpoint) -> dict[str, Any]:
    """One declaration of the device's set, filled in for it."""
    if generated.is_generated(endpoint.identifier):
        # only the activation depends on the set, and only on its shape (kinds, identifiers, references)
        members = (members_of(session, [device.id], device_tokens=False)[device.id]
                   if endpoint.identifier == generated.ACTIVATION else [])
        document = generated.document(endpoint.kind, endpoint.identifier, members)
        if document is None:
            raise NotInSet(f"no {endpoint.kind} {endpoint.identifier} in this enrollment's set")
        return document
    row = session.execute(_IN_SET, {"device_id": device.id, "identifier": endpoint.identifier,
                                    "kind": endpoint.kind}).first()
    if row is None:
        raise NotInSet(f"no {endpoint.kind} {endpoint.identifier} in this enrollment's set")
    payload, token = row.payload, row.server_token
    if row.has_variables:
        values = values_of(session, [device.id]).get(device.id, {})
        try:
            payload = substitute(payload, values)
        except VariableError as exc:
            raise NotInSet(f"{endpoint.identifier} cannot be filled in for this enrollment: {exc}") from None
        token = device_token(token, values)
    if row.profile_id is not None:
        payload = {**payload, "ProfileURL": device_url(payload["ProfileURL"], device.id)}
    if row.served:
        reference = payload["Reference"]
        payload = {**payload, "Reference": {**reference, "DataURL": device_url(reference["DataURL"], device.id)}}
    return declaration_document(row.type, endpoint.identifier, token, payload)
