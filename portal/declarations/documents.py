"""The DDM answers stored serialized, so that a request reads one row and writes its text.

A device's ``tokens``, ``declaration-items`` and generated activation change exactly when its
``DeclarationsToken`` does (the token is a hash over the manifest's items, the activation's among
them): ``sync`` writes them with the token (``device_documents``). A declaration's JSON is stored with
its content when every device gets the same (``shared_document``); one with variables, or a legacy profile's
URL this server writes per device, is filled in at each fetch (``portal.declarations.endpoint``).
"""
from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from mdm_core.ddm.declarations import declaration_document
from mdm_core.ddm.documents import declaration_items, tokens_document

from . import generated
from .generated import Member


def serialized(document: dict[str, Any]) -> str:
    """A document as the endpoints answer it (compact JSON, ASCII)."""
    return json.dumps(document, separators=(",", ":"))


class DeviceDocuments(NamedTuple):
    """A device's stored answers."""

    tokens: str
    manifest: str
    activation: str


def device_documents(members: list[Member], token: str, changed_at: datetime) -> DeviceDocuments:
    """The answers of a device whose set is ``members`` (server tokens as that device sees them), whose
    ``DeclarationsToken`` is ``token`` since ``changed_at``."""
    activation = generated.document("activation", generated.ACTIVATION, members)
    return DeviceDocuments(serialized(tokens_document(token, changed_at)),
                           serialized(declaration_items(generated.items(members))), serialized(activation))


def is_per_device(variables: str, profile_id: int | None) -> bool:
    """Whether a declaration is filled in for each device: the variables it uses, or a legacy profile's URL with
    the device's key (an asset's bytes are fetched over MDM at one URL for every device)."""
    return bool(variables) or profile_id is not None


def shared_document(type: str, identifier: str, server_token: str, payload: dict[str, Any], *,
                    per_device: bool) -> str | None:
    """The JSON every device gets for a declaration; None when it is filled in per device."""
    return None if per_device else serialized(declaration_document(type, identifier, server_token, payload))


@cache
def subscriptions_document() -> bytes:
    """The status subscriptions configuration, the same in every set."""
    return serialized(generated.document("configuration", generated.SUBSCRIPTIONS, [])).encode()
