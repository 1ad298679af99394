"""The answers to a DDM device's check-in endpoints computed from its set, for a device whose identity
``portal.mdm.declarative`` has proven: ``tokens``, ``declaration-items`` and ``declaration/<type>/<identifier>``.

A request is served from the answers stored for it (``documents``) whenever they are current; these compute
what is not: the answers of a stale set (``sync`` has not run yet, so a device gets the truth even before the
worker runs), and a declaration filled in per device. Each costs a few short statements over Core rows (no
ORM objects). A declaration outside the device's set, another enrollment's included, is ``NotInSet`` (the
view answers 404).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, select

from mdm_core.ddm.declarations import declaration_document
from mdm_core.ddm.documents import Endpoint, declaration_items, declarations_token, tokens_document
from mdm_core.profile_variables import VariableError, substitute

from ..models import DdmEnrollment, Declaration, DeclarationAssignment
from ..person_values import values_of
from . import generated
from .served import device_url
from .sets import device_token, members_of


_declarations = Declaration.__table__
_assignments = DeclarationAssignment.__table__
#: One declaration of one device's set, by kind and identifier: a Core statement built once (hot path).
_IN_SET = (select(_declarations.c.type, _declarations.c.payload, _declarations.c.server_token,
                  _declarations.c.variables, _declarations.c.profile_id)
           .join(_assignments, _assignments.c.declaration_id == _declarations.c.id)
           .where(_assignments.c.device_id == bindparam("device_id"),
                  _declarations.c.identifier == bindparam("identifier"), _declarations.c.kind == bindparam("kind")))
_enrollments = DdmEnrollment.__table__
_TOKEN = select(_enrollments.c.declarations_token, _enrollments.c.stale, _enrollments.c.token_changed_at,
                _enrollments.c.enabled_at).where(_enrollments.c.device_id == bindparam("device_id"))


class NotInSet(LookupError):
    """The device asked for a declaration its set does not hold; the message says why."""


def tokens(connection: Connection, device_id: int) -> dict[str, Any]:
    row = connection.execute(_TOKEN, {"device_id": device_id}).one()
    token = row.declarations_token
    if row.stale or token is None:
        token = declarations_token(generated.items(members_of(connection, [device_id])[device_id]))
    return tokens_document(token, row.token_changed_at or row.enabled_at)


def manifest(connection: Connection, device_id: int) -> dict[str, Any]:
    return declaration_items(generated.items(members_of(connection, [device_id])[device_id]))


def declaration(connection: Connection, device_id: int, endpoint: Endpoint) -> dict[str, Any]:
    """One declaration of the device's set, filled in for it."""
    if generated.is_generated(endpoint.identifier):
        # only the activation depends on the set, and only on its shape (kinds, identifiers, references)
        members = (members_of(connection, [device_id], device_tokens=False)[device_id]
                   if endpoint.identifier == generated.ACTIVATION else [])
        document = generated.document(endpoint.kind, endpoint.identifier, members)
        if document is None:
            raise NotInSet(f"no {endpoint.kind} {endpoint.identifier} in this enrollment's set")
        return document
    row = connection.execute(_IN_SET, {"device_id": device_id, "identifier": endpoint.identifier,
                                       "kind": endpoint.kind}).first()
    if row is None:
        raise NotInSet(f"no {endpoint.kind} {endpoint.identifier} in this enrollment's set")
    payload, token = row.payload, row.server_token
    if row.variables:
        values = values_of(connection, [device_id]).get(device_id, {})
        try:
            payload = substitute(payload, values)
        except VariableError as exc:
            raise NotInSet(f"{endpoint.identifier} cannot be filled in for this enrollment: {exc}") from None
        token = device_token(token, values, row.variables)
    if row.profile_id is not None:
        payload = {**payload, "ProfileURL": device_url(payload["ProfileURL"], device_id)}
    return declaration_document(row.type, endpoint.identifier, token, payload)
