"""The declarations the server writes itself into every DDM device's set, from the stored ones.

Every set holds the status subscriptions configuration (the status items User Enrollment allows,
``mdm_core.ddm.status``) and one activation that activates every configuration of the set that no
stored activation names: admins scope configurations and the server activates them; an admin who
wants a predicate writes an activation naming the configurations instead (docs/decisions.md).
Both are computed from the set's rows, so their server tokens change only when the set does.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from mdm_core.ddm import ACTIVATION_TYPE
from mdm_core.ddm.declarations import activation_payload, declaration_document, server_token
from mdm_core.ddm.documents import Item
from mdm_core.ddm.status import subscriptions_declaration

SUBSCRIPTIONS = "portal.status-subscriptions"
ACTIVATION = "portal.activation"
KINDS = {SUBSCRIPTIONS: "configuration", ACTIVATION: "activation"}


@dataclass(frozen=True)
class Member:
    """A stored declaration of a device's set (``server_token``: the one this device sees)."""

    type: str
    identifier: str
    kind: str
    server_token: str
    refers_to: tuple[str, ...] = ()


@cache
def _subscriptions() -> tuple[str, dict[str, Any], str]:
    declaration = subscriptions_declaration(SUBSCRIPTIONS)
    return declaration["Type"], declaration["Payload"], declaration["ServerToken"]


def _activation(members: Iterable[Member]) -> tuple[dict[str, Any], str]:
    members = list(members)
    named = {identifier for m in members if m.kind == "activation" for identifier in m.refers_to}
    configurations = [m.identifier for m in members if m.kind == "configuration" and m.identifier not in named]
    payload = activation_payload([*configurations, SUBSCRIPTIONS])
    return payload, server_token(ACTIVATION_TYPE, ACTIVATION, payload)


def items(members: Iterable[Member]) -> list[Item]:
    """The device's whole manifest: its stored declarations and the two the server writes."""
    members = list(members)
    kind, _, token = _subscriptions()
    return [*(Item(m.type, m.identifier, m.server_token) for m in members), Item(kind, SUBSCRIPTIONS, token),
            Item(ACTIVATION_TYPE, ACTIVATION, _activation(members)[1])]


def document(kind: str, identifier: str, members: Iterable[Member]) -> dict[str, Any] | None:
    """A generated declaration's document; None when ``kind`` (the endpoint's: configuration, activation...)
    and ``identifier`` name none."""
    if identifier == SUBSCRIPTIONS:
        declaration_type, payload, token = _subscriptions()
    elif identifier == ACTIVATION:
        declaration_type = ACTIVATION_TYPE
        payload, token = _activation(members)
    else:
        return None
    if KINDS[identifier] != kind:
        return None
    return declaration_document(declaration_type, identifier, token, payload)


def is_generated(identifier: str) -> bool:
    return identifier in (SUBSCRIPTIONS, ACTIVATION)
