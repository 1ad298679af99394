"""The server's side of the DDM exchange: tokens, the manifest, the command, and the endpoint a device asks for.

A device keeps the ``DeclarationsToken`` it last synchronised; the token is a hash over the set
of ``(type, identifier, server token)``, so it moves when any declaration is added, removed or
edited, and stays put otherwise. ``sync_command`` carries the same tokens document in the
``DeclarativeManagement`` command, so a device that already holds that token does nothing.
"""
from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from mdm_core.commands import build_command
from mdm_core.ddm import DdmError
from mdm_core.ddm.declarations import canonical_json, is_identifier
from mdm_core.ddm.tables import MANIFEST_LISTS, DeclarationKind, declaration_spec

EndpointName = Literal["tokens", "declaration-items", "status", "declaration"]
#: Longest ``Endpoint`` accepted: ``declaration/`` + a kind + ``/`` + a 64-octet identifier.
MAX_ENDPOINT_LENGTH = 256
_SIMPLE_ENDPOINTS = ("tokens", "declaration-items", "status")


class Item(NamedTuple):
    """A declaration as the manifest lists it."""

    type: str
    identifier: str
    server_token: str


@dataclass(frozen=True)
class Endpoint:
    """A parsed check-in ``Endpoint``; ``kind`` and ``identifier`` only for ``declaration``.

    Apple's ``declaration/<type>/<identifier>`` names the declaration's kind (``activation``,
    ``asset``, ``configuration`` or ``management``: the manifest list it came from), not its full
    type; a declaration of another kind, or not in the device's set, is Apple's 404.
    """

    name: EndpointName
    kind: DeclarationKind | None = None
    identifier: str | None = None


def declarations_token(items: Iterable[Item]) -> str:
    """Deterministic over the set of items, whatever their order."""
    lines = sorted(f"{item.type}\n{item.identifier}\n{item.server_token}" for item in items)
    return hashlib.sha256("\n\n".join(lines).encode("utf-8")).hexdigest()[:32]


def declaration_items(items: Iterable[Item]) -> dict[str, Any]:
    """The ``declaration-items`` answer (``DeclarationItemsResponse``): every declaration by kind, sorted."""
    items = list(items)
    lists: dict[str, list[dict[str, str]]] = {name: [] for name in MANIFEST_LISTS.values()}
    for item in sorted(items, key=lambda item: (item.identifier, item.type)):
        spec = declaration_spec(item.type)
        if spec is None:
            raise DdmError(f"unknown declaration type {item.type!r}")
        lists[MANIFEST_LISTS[spec.kind]].append({"Identifier": item.identifier, "ServerToken": item.server_token})
    return {"Declarations": lists, "DeclarationsToken": declarations_token(items)}


def tokens_document(declarations_token: str, timestamp: datetime.datetime) -> dict[str, Any]:
    """The ``tokens`` answer (``TokensResponse``); ``timestamp`` is when the declarations last changed."""
    return {"SyncTokens": {"DeclarationsToken": declarations_token, "Timestamp": _rfc3339(timestamp)}}


def sync_command(declarations_token: str, timestamp: datetime.datetime) -> dict[str, Any]:
    """The ``DeclarativeManagement`` command: turns DDM on and hands the device the current tokens."""
    return build_command("DeclarativeManagement", Data=canonical_json(tokens_document(declarations_token, timestamp)))


def parse_endpoint(endpoint: object) -> Endpoint:
    """Read a check-in ``Endpoint``: ``tokens``, ``declaration-items``, ``status`` or
    ``declaration/<kind>/<identifier>``; anything else raises DdmError saying what is wrong."""
    if not isinstance(endpoint, str) or not endpoint:
        raise DdmError("Endpoint must be a non-empty string")
    if len(endpoint) > MAX_ENDPOINT_LENGTH:
        raise DdmError(f"Endpoint is longer than {MAX_ENDPOINT_LENGTH} characters")
    if endpoint in _SIMPLE_ENDPOINTS:
        return Endpoint(endpoint)  # type: ignore[arg-type]
    parts = endpoint.split("/")
    if parts[0] != "declaration":
        raise DdmError(f"unknown Endpoint {endpoint[:64]!r}; expected tokens, declaration-items, status "
                       "or declaration/<kind>/<identifier>")
    if len(parts) != 3 or parts[1] not in MANIFEST_LISTS:
        raise DdmError("a declaration Endpoint must be declaration/<kind>/<identifier>, the kind one of "
                       "activation, asset, configuration, management")
    if not is_identifier(parts[2]):
        raise DdmError("the declaration identifier in Endpoint is not one this server issues")
    return Endpoint("declaration", parts[1], parts[2])


def _rfc3339(moment: datetime.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
