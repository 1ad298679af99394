"""The simulated iPhone's declarative management client: synchronise, apply, report status.

On a ``DeclarativeManagement`` command whose ``SyncTokens`` differ from what it holds, the device
sends ``DeclarativeManagement`` check-ins: ``tokens``, ``declaration-items``, then
``declaration/<kind>/<identifier>`` only for declarations that are new or whose ``ServerToken``
changed; it downloads the data of the assets the MDM server serves (``Authentication`` ``MDM``, the
default: an MDM request signed over its empty body) and checks it as iOS does (status, media type, size,
hash, a certificate's encoding, a credential's document), an asset whose data fails being invalid with
Apple's reason; it drops declarations gone from the manifest, applies the rest (``ddm_apply``) and sends a
``status`` report: the first one full, later ones only what changed (list items by identifier,
with ``_removed`` entries; ``management.declarations`` whole, as its schema has no ``_removed``).
Counters (``requests``, ``fetched``, ``reports``) let tests assert what crossed the wire.

Building a request (``message``, ``changed``, ``status_document``) and reading its answer (``read_*``,
``hold``, ``adopt``, ``reported_now``) are separate steps, so that a load generator can sign every
request before its clock starts and check the answers after it stops; ``fetch_*``, ``report`` and
``sync`` send and read in one go.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from mdm_core import bounded_json
from mdm_core.capabilities import check_keys
from mdm_core.ddm.assets import CERTIFICATE, CREDENTIALS, AssetDataError, data_content_type
from mdm_core.ddm.tables import MANIFEST_LISTS, asset_data_keys, declaration_spec, declaration_types, status_item_names
from mdm_core.simulator.ddm_apply import ACCOUNT_LISTS, Held, Outcome, evaluate

if TYPE_CHECKING:
    from mdm_core.simulator.device import SimulatedDevice

#: Reported without a subscription (Apple: "an implicit status subscription ... is always present").
IMPLICIT_ITEMS = frozenset({"management.client-capabilities"})
#: Status items a user-enrolled phone never reports; a hostile one sends them anyway.
HARDWARE_ITEMS = {"device.identifier.serial-number": "serial_number", "device.identifier.udid": "udid"}
_STATUS_LISTS = {"activation": "activations", "asset": "assets", "configuration": "configurations",
                 "management": "management"}
_LIST_ITEMS = (*sorted({name for names in ACCOUNT_LISTS.values() for name in names}), "app.managed.list",
               "security.certificate.list")


class DdmProtocolError(ValueError):
    """The server answered a DDM request with something a device cannot use."""


@dataclass
class DdmClient:
    """What the device holds of its declarations, and what it last reported."""

    declarations_token: str | None = None
    sync_pending: bool = False
    held: dict[str, Held] = field(default_factory=dict)
    outcome: Outcome = field(default_factory=Outcome)
    reported: dict[str, Any] | None = None
    #: Requests sent, by endpoint name (``tokens``, ``declaration-items``, ``declaration``, ``status``).
    requests: Counter[str] = field(default_factory=Counter)
    #: Identifiers of the declarations fetched, in order.
    fetched: list[str] = field(default_factory=list)
    #: Status reports sent, decoded.
    reports: list[dict[str, Any]] = field(default_factory=list)
    #: The data downloaded for assets (by identifier), and the reasons of the downloads that failed.
    asset_data: dict[str, bytes] = field(default_factory=dict)
    asset_errors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def on_command(self, data: object) -> None:
        """Read a ``DeclarativeManagement`` command's ``Data``; a sync follows when its token is new."""
        if not isinstance(data, bytes):
            raise DdmProtocolError("Data must be data holding the SyncTokens JSON")
        try:
            token = bounded_json.loads(data)["SyncTokens"]["DeclarationsToken"]
        except (ValueError, KeyError, TypeError):
            raise DdmProtocolError("Data does not hold SyncTokens.DeclarationsToken") from None
        if token != self.declarations_token:
            self.sync_pending = True

    def state_of(self, identifier: str) -> dict[str, Any] | None:
        return self.outcome.states.get(identifier)

    def sync(self, device: SimulatedDevice, http: httpx.Client) -> None:
        """Fetch what changed, apply it, and report status if anything the server sees moved."""
        if self.fetch_tokens(device, http) != self.declarations_token:
            self.fetch_changed(device, http, self.fetch_manifest(device, http))
        self.sync_pending = False
        self.apply(device)
        self.report(device, http)

    def message(self, device: SimulatedDevice, endpoint: str, data: bytes | None = None) -> dict[str, Any]:
        """The check-in message of one DDM request, counted in ``requests``: build it only to send it."""
        self.requests[endpoint.split("/", 1)[0]] += 1
        return device.declarative_management_message(endpoint, data)

    def fetch_tokens(self, device: SimulatedDevice, http: httpx.Client) -> str:
        """The ``tokens`` request: the server's current DeclarationsToken."""
        return self.read_tokens(self._send(device, http, "tokens"))

    def read_tokens(self, content: bytes) -> str:
        """The DeclarationsToken of a ``tokens`` answer."""
        try:
            return _json("tokens", content)["SyncTokens"]["DeclarationsToken"]
        except (KeyError, TypeError):
            raise DdmProtocolError("tokens: no SyncTokens.DeclarationsToken") from None

    def fetch_manifest(self, device: SimulatedDevice, http: httpx.Client) -> dict[str, Any]:
        """The ``declaration-items`` request: the manifest, checked for its shape."""
        return self.read_manifest(self._send(device, http, "declaration-items"))

    def read_manifest(self, content: bytes) -> dict[str, Any]:
        """A ``declaration-items`` answer, checked for its shape."""
        manifest = _json("declaration-items", content)
        try:
            for list_name in MANIFEST_LISTS.values():
                for entry in manifest["Declarations"][list_name]:
                    if not isinstance(entry["Identifier"], str) or not isinstance(entry["ServerToken"], str):
                        raise TypeError
            if not isinstance(manifest["DeclarationsToken"], str):
                raise TypeError
        except (KeyError, TypeError):
            raise DdmProtocolError("declaration-items: not a DeclarationItemsResponse") from None
        return manifest

    def fetch_changed(self, device: SimulatedDevice, http: httpx.Client, manifest: Mapping[str, Any]) -> None:
        """Fetch the declarations that are new or whose ServerToken moved; forget those no longer listed."""
        for kind, identifier in self.changed(manifest):
            content = self._send(device, http, f"declaration/{kind}/{identifier}")
            self.hold(device, http, self.read_declaration(kind, identifier, content))
        self.adopt(manifest)

    def changed(self, manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
        """``(kind, identifier)`` of the declarations of a manifest that are new or whose ServerToken moved, in
        the order they are fetched."""
        wanted = []
        for identifier, (kind, server_token) in sorted(_listed(manifest).items()):
            current = self.held.get(identifier)
            if current is None or (current.kind, current.server_token) != (kind, server_token):
                wanted.append((kind, identifier))
        return wanted

    def read_declaration(self, kind: str, identifier: str, content: bytes) -> Held:
        """A ``declaration/<kind>/<identifier>`` answer, checked for its shape; counted in ``fetched``."""
        document = _json(f"declaration/{kind}/{identifier}", content)
        if (document.get("Identifier") != identifier or not isinstance(document.get("Type"), str)
                or not isinstance(document.get("ServerToken"), str) or not isinstance(document.get("Payload"), dict)):
            raise DdmProtocolError(f"declaration {identifier} is not a declaration document")
        self.fetched.append(identifier)
        return Held(kind, document["Type"], identifier, document["ServerToken"], document["Payload"])

    def hold(self, device: SimulatedDevice, http: httpx.Client, item: Held) -> None:
        """Keep a fetched declaration; an asset's data is downloaded (when this server serves it) and checked."""
        self.held[item.identifier] = item
        if item.kind == "asset":
            self._download(device, http, item)

    def adopt(self, manifest: Mapping[str, Any]) -> None:
        """The end of a fetch: forget the declarations the manifest no longer lists, hold its DeclarationsToken."""
        listed = _listed(manifest)
        for identifier in [identifier for identifier in self.held if identifier not in listed]:
            del self.held[identifier]
            self.asset_data.pop(identifier, None)
            self.asset_errors.pop(identifier, None)
        self.declarations_token = manifest["DeclarationsToken"]

    def apply(self, device: SimulatedDevice) -> None:
        """Evaluate the held declarations (see ``ddm_apply``)."""
        self.outcome = evaluate(self.held, user_enrollment=device.enrollment_type == "user",
                                facts=device_status(device), asset_data=self.asset_data)
        for identifier, reasons in self.asset_errors.items():
            if identifier in self.outcome.states:
                self.outcome.states[identifier].update(active=False, valid="invalid", reasons=reasons)

    def report(self, device: SimulatedDevice, http: httpx.Client, *, full: bool = False) -> bool:
        """Send a status report: everything the first time (or when ``full``), else what changed."""
        status = self.status_document(device, full=full)
        if status is None:
            return False
        self._send(device, http, "status", status.body)
        self.reported_now(status)
        return True

    def status_document(self, device: SimulatedDevice, *, full: bool = False) -> StatusDocument | None:
        """The ``status`` report to send now (see :meth:`report`), or None when nothing changed."""
        current = self._reportable(device)
        if self.reported is None or full:
            changed = dict(current)
        else:
            changed = _changes(self.reported, current)
        if device.behaviour.hostile:
            changed.update({name: getattr(device, attribute) for name, attribute in HARDWARE_ITEMS.items()})
            changed["device.power.battery-health"] = "normal"
        if not changed:
            return None
        document = {"StatusItems": _nest(changed), "Errors": [], "FullReport": self.reported is None or full}
        return StatusDocument(json.dumps(document).encode(), document, current)

    def reported_now(self, status: StatusDocument) -> None:
        """The server accepted ``status``: later reports carry only what changed since."""
        self.reports.append(status.document)
        self.reported = status.values

    def _reportable(self, device: SimulatedDevice) -> dict[str, Any]:
        """The values of the subscribed items this device may report."""
        user = device.enrollment_type == "user"
        allowed = set(status_item_names(user_enrollment=user))
        values = {**device_status(device), **self.outcome.values,
                  "management.declarations": self._declarations_status(),
                  "management.client-capabilities": client_capabilities(user)}
        if not user:
            values.update({name: getattr(device, attribute) for name, attribute in HARDWARE_ITEMS.items()})
        wanted = (self.outcome.subscriptions | IMPLICIT_ITEMS) & allowed
        return {name: value for name, value in values.items() if name in wanted}

    def _declarations_status(self) -> dict[str, list[dict[str, Any]]]:
        lists: dict[str, list[dict[str, Any]]] = {name: [] for name in _STATUS_LISTS.values()}
        for identifier, item in sorted(self.held.items()):
            state = self.outcome.states.get(identifier)
            if state is not None:
                lists[_STATUS_LISTS[item.kind]].append(state)
        return lists

    def _download(self, device: SimulatedDevice, http: httpx.Client, item: Held) -> None:
        """Download and check an asset's data; a failure is kept as the asset's reason."""
        self.asset_data.pop(item.identifier, None)
        self.asset_errors.pop(item.identifier, None)
        reference = item.payload.get("Reference")
        if not isinstance(reference, Mapping) or not isinstance(reference.get("DataURL"), str):
            return
        authentication = item.payload.get("Authentication")
        as_mdm = not isinstance(authentication, Mapping) or authentication.get("Type") != "None"
        response = device.fetch(reference["DataURL"], http, as_mdm_request=as_mdm)
        if response is None:
            return
        problem = _data_problem(item.type, reference, response)
        if problem is None:
            self.asset_data[item.identifier] = response.content
        else:
            code, error = problem
            self.asset_errors[item.identifier] = [{"code": code, "details": {
                "Identifier": item.identifier, "ServerToken": item.server_token, "Error": error}}]

    def _send(self, device: SimulatedDevice, http: httpx.Client, endpoint: str, data: bytes | None = None) -> bytes:
        return device.checkin(self.message(device, endpoint, data), http).content


@dataclass(frozen=True)
class StatusDocument:
    """A status report ready to send: its ``body`` (the check-in's ``Data``), the document, and the values it
    brings the server up to."""

    body: bytes
    document: dict[str, Any]
    values: dict[str, Any]


def _json(endpoint: str, content: bytes) -> dict[str, Any]:
    try:
        document = bounded_json.loads(content)
    except (ValueError, UnicodeDecodeError):
        raise DdmProtocolError(f"{endpoint}: the server's answer is not JSON") from None
    if not isinstance(document, dict):
        raise DdmProtocolError(f"{endpoint}: the server's answer is not a JSON object")
    return document


def _listed(manifest: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """``identifier -> (kind, ServerToken)`` of every declaration a manifest lists."""
    return {entry["Identifier"]: (kind, entry["ServerToken"])
            for kind, list_name in MANIFEST_LISTS.items() for entry in manifest["Declarations"][list_name]}


def _data_problem(asset_type: str, reference: Mapping[str, Any], response: httpx.Response) -> tuple[str, str] | None:
    """Why downloaded asset data cannot be used (Apple's reason code and the error), or None."""
    if response.status_code != 200:
        return "Error.AssetCannotBeDownloaded", f"HTTP {response.status_code}"
    data = response.content
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    if reference.get("ContentType") not in (None, media_type):
        return "Error.AssetCannotBeVerified", f"media type {media_type}, not {reference['ContentType']}"
    if reference.get("Size") not in (None, len(data)) or reference.get("Hash-SHA-256") not in (
            None, hashlib.sha256(data).hexdigest()):
        return "Error.AssetCannotBeVerified", "size or SHA-256 hash differ from the Reference"
    if asset_type == CERTIFICATE:
        try:
            data_content_type(asset_type, data, media_type)
        except AssetDataError as exc:
            return "Error.AssetCannotBeDeserialized", str(exc)
    if asset_type in CREDENTIALS:
        try:
            document = bounded_json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return "Error.AssetCannotBeDeserialized", "the credential is not JSON"
        problems: list = []
        if isinstance(document, dict):
            check_keys(document, asset_data_keys(CREDENTIALS[asset_type]) or {}, None, problems,
                       unknown_severity="error")
        if not isinstance(document, dict) or problems:
            return "Error.AssetCannotBeDeserialized", f"not a {CREDENTIALS[asset_type]} credential"
    return None


def device_status(device: SimulatedDevice) -> dict[str, Any]:
    """The status values of the phone itself (what predicates read and reports carry)."""
    return {
        "device.model.family": "iPhone",
        "device.model.identifier": device.product_name,
        "device.model.marketing-name": "iPhone 14 Pro",
        "device.model.number": device.model_number,
        "device.operating-system.family": "iOS",
        "device.operating-system.marketing-name": f"iOS {device.os_version.split('.')[0]}",
        "device.operating-system.version": device.os_version,
        "device.operating-system.build-version": device.build_version,
        "passcode.is-present": True,
        "passcode.is-compliant": True,
        **{name: [] for name in _LIST_ITEMS},
    }


def client_capabilities(user_enrollment: bool) -> dict[str, Any]:
    """``management.client-capabilities``: the protocol version and what this phone supports."""
    declarations: dict[str, list[str]] = {name: [] for name in _STATUS_LISTS.values()}
    for declaration_type in declaration_types(user_enrollment=user_enrollment):
        declarations[_STATUS_LISTS[declaration_spec(declaration_type).kind]].append(declaration_type)
    return {"supported-versions": ["1.0.0"], "supported-features": {},
            "supported-payloads": {"declarations": declarations,
                                   "status-items": list(status_item_names(user_enrollment=user_enrollment))}}


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """An incremental report: changed values; for lists, changed entries and ``_removed`` markers."""
    changed: dict[str, Any] = {}
    for name, value in after.items():
        previous = before.get(name)
        if value == previous:
            continue
        if name in _LIST_ITEMS and isinstance(previous, list):
            old = {entry["identifier"]: entry for entry in previous}
            new = {entry["identifier"]: entry for entry in value}
            changed[name] = ([entry for key, entry in new.items() if old.get(key) != entry]
                             + [{"identifier": key, "_removed": True} for key in old if key not in new])
        else:
            changed[name] = value
    return changed


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b.c": v}`` -> ``{"a": {"b": {"c": v}}}``, as a report's ``StatusItems`` nests."""
    tree: dict[str, Any] = {}
    for name, value in sorted(flat.items()):
        *parents, leaf = name.split(".")
        node = tree
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return tree
