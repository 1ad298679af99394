"""An in-memory DDM server in front of the simulator tests' FakeServer, built from ``mdm_core.ddm``.

It answers ``DeclarativeManagement`` check-ins (signature verified as for any check-in) with the
tokens, manifest and declaration documents of one declaration set, stores the status reports it
receives as the server would parse them, and queues the ``DeclarativeManagement`` command. It serves
asset data at ``/assets/<identifier>`` as an MDM request (a GET whose empty body the device signs).
"""
from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from mdm_core import plist
from mdm_core.ddm import DdmError
from mdm_core.ddm.declarations import declaration_document, server_token
from mdm_core.ddm.documents import (
    Item,
    declaration_items,
    declarations_token,
    parse_endpoint,
    sync_command,
    tokens_document,
)
from mdm_core.ddm.status import parse_status_report, subscriptions_payload
from mdm_core.ddm.tables import declaration_spec
from mdm_core.identity import IdentityError, verify_mdm_signature

SUBSCRIPTIONS = "status-subscriptions"
ACTIVATION = "activation"


@dataclass
class DdmServer:
    server: Any  # the FakeServer the other requests go to
    declarations: dict[str, tuple[str, dict]] = field(default_factory=dict)
    checkins: list[dict] = field(default_factory=list)
    status_reports: list = field(default_factory=list)
    #: Asset data by identifier: its bytes and media type.
    served: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    changed_at: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc))

    def put(self, identifier: str, declaration_type: str, payload: dict) -> None:
        self.declarations[identifier] = (declaration_type, payload)
        self.changed_at = datetime.datetime.now(datetime.timezone.utc)

    def remove(self, identifier: str) -> None:
        del self.declarations[identifier]

    def with_subscriptions(self, *configurations: str, predicate: str | None = None) -> None:
        """The status subscriptions and one activation naming them and ``configurations``."""
        self.put(SUBSCRIPTIONS, "com.apple.configuration.management.status-subscriptions", subscriptions_payload())
        self.activate(SUBSCRIPTIONS, *configurations, predicate=predicate)

    def activate(self, *configurations: str, predicate: str | None = None) -> None:
        payload: dict[str, Any] = {"StandardConfigurations": list(configurations)}
        if predicate:
            payload["Predicate"] = predicate
        self.put(ACTIVATION, "com.apple.activation.simple", payload)

    def items(self) -> list[Item]:
        return [Item(declaration_type, identifier, server_token(declaration_type, identifier, payload))
                for identifier, (declaration_type, payload) in self.declarations.items()]

    def sync(self, device_identifier: str):
        return self.server.enqueue(device_identifier, sync_command(declarations_token(self.items()), self.changed_at))

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.startswith("/assets/"):
            return self._asset(request)
        if request.url.path != "/mdm/checkin":
            return self.server.handle(request)
        message = plist.loads(request.content)
        if message.get("MessageType") != "DeclarativeManagement":
            return self.server.handle(request)
        try:
            verify_mdm_signature(request.headers.get("Mdm-Signature"), request.content, self.server.ca.certificate)
        except IdentityError as exc:
            return httpx.Response(403, text=str(exc))
        self.checkins.append(message)
        try:
            return self._answer(message)
        except DdmError as exc:
            return httpx.Response(400, text=str(exc))

    def _answer(self, message: dict) -> httpx.Response:
        endpoint = parse_endpoint(message.get("Endpoint"))
        items = self.items()
        if endpoint.name == "tokens":
            return _json(tokens_document(declarations_token(items), self.changed_at))
        if endpoint.name == "declaration-items":
            return _json(declaration_items(items))
        if endpoint.name == "status":
            self.status_reports.append(parse_status_report(message.get("Data", b"")))
            return httpx.Response(200)
        found = self.declarations.get(endpoint.identifier)
        if found is None or declaration_spec(found[0]).kind != endpoint.kind:
            return httpx.Response(404, text="no such declaration")
        declaration_type, payload = found
        return _json(declaration_document(declaration_type, endpoint.identifier,
                                          server_token(declaration_type, endpoint.identifier, payload), payload))

    def _asset(self, request: httpx.Request) -> httpx.Response:
        try:
            verify_mdm_signature(request.headers.get("Mdm-Signature"), b"", self.server.ca.certificate)
        except IdentityError as exc:
            return httpx.Response(403, text=str(exc))
        found = self.served.get(request.url.path.removeprefix("/assets/"))
        if found is None:
            return httpx.Response(404, text="no such asset")
        return httpx.Response(200, content=found[0], headers={"Content-Type": found[1]})


def _json(document: dict) -> httpx.Response:
    return httpx.Response(200, content=json.dumps(document).encode(), headers={"Content-Type": "application/json"})
