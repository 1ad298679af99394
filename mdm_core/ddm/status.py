"""The status channel: what the server subscribes a device to, and what it keeps of a report.

A report's ``StatusItems`` nest by the dotted item name (``{"device": {"operating-system":
{"version": "17.5"}}}``). Reading one keeps only the items Apple's schema lets a user-enrolled
iPhone report: a serial number, a UDID or battery health never leave this module, and nor does
anything unknown; the report names what it dropped (never the values) so the server can log it.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mdm_core import bounded_json
from mdm_core.ddm import SUBSCRIPTIONS_TYPE, DdmError
from mdm_core.ddm.declarations import canonical_json, declaration_document, server_token
from mdm_core.ddm.tables import status_item_names, status_item_spec
from mdm_core.plist import storable

#: Reports carry certificate and app lists; past this a report is refused.
MAX_STATUS_BYTES = 4 * 1024 * 1024
#: Names of dropped items kept for the log (a hostile report may name thousands).
MAX_DROPPED_NAMES = 50
MAX_NAME_LENGTH = 128
#: A device reports the declarations the server gave it; past this many the rest are left out (and counted).
MAX_DECLARATION_STATUSES = 1000
#: What is kept of a reason: its code and description cut to these lengths, its details only if this small (JSON).
MAX_DESCRIPTION_LENGTH = 1024
MAX_DETAILS_BYTES = 4096
DECLARATIONS_ITEM = "management.declarations"
#: The lists the server keeps (``status_lists``: apps, certificates, accounts), by item name or prefix.
KEPT_LISTS = ("account.list.", "app.managed.list", "security.certificate.list")
#: Status items kept on the device row, as ``inventory_facts`` names them, with the longest value stored.
INVENTORY_ITEMS: Mapping[str, tuple[str, int]] = {
    "device.operating-system.version": ("os_version", 40),
    "device.operating-system.build-version": ("build_version", 40),
    "device.model.identifier": ("product_name", 80),
    "device.model.number": ("model", 80),
    "device.model.family": ("model_name", 120),
    "passcode.is-compliant": ("passcode_compliant", 0),
    "passcode.is-present": ("passcode_present", 0),
}
_VALID_STATES = ("valid", "invalid", "unknown")
#: ``management.declarations`` lists, by declaration kind.
_STATUS_LISTS = {"activation": "activations", "asset": "assets", "configuration": "configurations",
                 "management": "management"}

#: What the server subscribes a device to: exactly what it keeps (the facts, the lists, the declarations'
#: statuses), each an item User Enrollment reports; nothing it would only throw away.
SUBSCRIBED_ITEMS: tuple[str, ...] = tuple(
    name for name in status_item_names(user_enrollment=True)
    if name in INVENTORY_ITEMS or name == DECLARATIONS_ITEM or name.startswith(KEPT_LISTS))
#: A report is JSON, so a value's class is its schema type (a boolean is never a number). What an item holds
#: below that is read, and checked, only where the server keeps it (``_declarations``, ``inventory_facts``):
#: walking every list a full report carries cost more than the rest of the request.
_JSON_CLASSES: Mapping[str, tuple[type, ...]] = {
    "<string>": (str,), "<boolean>": (bool,), "<integer>": (int,), "<real>": (int, float), "<array>": (list,),
    "<dictionary>": (dict,)}
_USER_ITEMS = frozenset(status_item_names(user_enrollment=True))
#: The classes each known item's value may have: none for an item User Enrollment does not report.
_ITEM_CLASSES: Mapping[str, tuple[type, ...]] = {
    name: _JSON_CLASSES[status_item_spec(name).type] if name in _USER_ITEMS else () for name in status_item_names()}
_KNOWN_PREFIXES = frozenset(".".join(name.split(".")[:depth]) for name in status_item_names()
                            for depth in range(1, name.count(".") + 1))


@dataclass(frozen=True)
class Reason:
    code: str
    description: str | None = None
    details: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class DeclarationStatus:
    """One declaration as the device reports it (``management.declarations``)."""

    kind: str
    identifier: str
    server_token: str
    active: bool
    valid: str
    reasons: tuple[Reason, ...] = ()


@dataclass(frozen=True)
class StatusError:
    status_item: str
    reasons: tuple[Reason, ...] = ()


@dataclass(frozen=True)
class StatusReport:
    """What the server keeps of a report: ``items`` by dotted name, User Enrollment's only, each of its schema
    type (checked at the top level: ``_ITEM_CLASSES``)."""

    items: Mapping[str, Any]
    declarations: tuple[DeclarationStatus, ...]
    errors: tuple[StatusError, ...]
    full_report: bool
    dropped_count: int = 0
    dropped: tuple[str, ...] = ()
    #: Declaration statuses past ``MAX_DECLARATION_STATUSES``, left out.
    statuses_dropped: int = 0


def parse_status_report(data: bytes) -> StatusReport:
    """Read the ``Data`` of a ``status`` check-in; DdmError for anything that is not a status report."""
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise DdmError("a status report needs Data holding its JSON")
    if len(data) > MAX_STATUS_BYTES:
        raise DdmError(f"status report larger than {MAX_STATUS_BYTES} bytes")
    try:
        document = bounded_json.loads(bytes(data))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DdmError(f"status report is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("StatusItems"), dict):
        raise DdmError("a status report is a JSON object with a StatusItems object")
    if _may_hold_surrogate(data) and _has_lone_surrogate(document):
        raise DdmError("status report holds an unpaired surrogate (\\uD800-\\uDFFF), which no text can store")
    full_report = document.get("FullReport", False)
    if not isinstance(full_report, bool):
        raise DdmError("FullReport must be a boolean")
    items, dropped = _flatten(document["StatusItems"])
    declarations, statuses_dropped = _declarations(items.get(DECLARATIONS_ITEM))
    return StatusReport(items=items, declarations=declarations, errors=_errors(document.get("Errors", [])),
                        full_report=full_report, dropped_count=len(dropped),
                        dropped=tuple(dropped[:MAX_DROPPED_NAMES]), statuses_dropped=statuses_dropped)


#: UTF-8 JSON spells a surrogate as an escape, or as the three bytes UTF-8 forbids (ED A0-BF xx), which
#: ``json.loads`` decodes with ``surrogatepass``; UTF-16 and UTF-32 JSON, which it also reads, hold NUL bytes:
#: without any of these, there is nothing to check.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def _may_hold_surrogate(data: bytes) -> bool:
    """The cheap test before the walk: the regex scans a 3.5 KB report in 30 µs, three ``in`` tests take 5."""
    return b"\x00" in data or (b"\\u" in data or b"\xed" in data) and _SURROGATE_ESCAPE.search(data) is not None


def _has_lone_surrogate(document: Any) -> bool:
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _flatten(tree: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Known, allowed items by dotted name; the names of everything else (unknown, forbidden, wrongly typed)."""
    items: dict[str, Any] = {}
    dropped: list[str] = []
    pending = [("", tree)]
    while pending:
        prefix, node = pending.pop()
        for key, value in node.items():
            name = prefix + key
            classes = _ITEM_CLASSES.get(name)
            if classes is not None:
                if value.__class__ in classes:
                    items[name] = value
                else:
                    dropped.append(name[:MAX_NAME_LENGTH])
            elif value.__class__ is dict and name in _KNOWN_PREFIXES:
                pending.append((name + ".", value))
            else:
                dropped.append(name[:MAX_NAME_LENGTH])
    return items, sorted(dropped)


def _declarations(value: Any) -> tuple[tuple[DeclarationStatus, ...], int]:
    """The statuses, the first ``MAX_DECLARATION_STATUSES`` of them (refusing the report would lose its
    inventory too), and how many were left out."""
    if value is None:
        return (), 0
    statuses: list[DeclarationStatus] = []
    left_out = 0
    for kind, list_name in _STATUS_LISTS.items():
        entries = value.get(list_name, [])
        if not isinstance(entries, list):
            raise DdmError(f"management.declarations.{list_name} must be an array")
        room = MAX_DECLARATION_STATUSES - len(statuses)
        left_out += max(len(entries) - room, 0)
        statuses.extend(_declaration(kind, entry) for entry in entries[:room])
    return tuple(statuses), left_out


def _declaration(kind: str, entry: Any) -> DeclarationStatus:
    if not (isinstance(entry, dict) and isinstance(entry.get("identifier"), str)
            and isinstance(entry.get("server-token"), str) and isinstance(entry.get("active"), bool)
            and entry.get("valid") in _VALID_STATES):
        raise DdmError("each declaration status needs identifier, server-token, active (boolean) "
                       "and valid (valid, invalid or unknown)")
    return DeclarationStatus(kind, entry["identifier"], entry["server-token"], entry["active"], entry["valid"],
                             _reasons(entry.get("reasons", []), "code", "description", "details"))


def _reasons(value: Any, code: str, description: str, details: str) -> tuple[Reason, ...]:
    if not isinstance(value, list):
        raise DdmError("reasons must be an array")
    reasons = []
    for reason in value:
        if not isinstance(reason, dict) or not isinstance(reason.get(code), str):
            raise DdmError(f"each reason needs a {code} string")
        text = reason.get(description)
        reasons.append(Reason(reason[code][:MAX_NAME_LENGTH],
                              text[:MAX_DESCRIPTION_LENGTH] if isinstance(text, str) else None,
                              _details(reason.get(details))))
    return tuple(reasons)


def _details(value: Any) -> Mapping[str, Any] | None:
    """A reason's details, if an object whose JSON is at most ``MAX_DETAILS_BYTES`` (NaN and the like are no JSON)."""
    if not isinstance(value, dict):
        return None
    try:
        return value if len(canonical_json(value)) <= MAX_DETAILS_BYTES else None
    except ValueError:
        return None


def _errors(value: Any) -> tuple[StatusError, ...]:
    if not isinstance(value, list):
        raise DdmError("Errors must be an array")
    errors = []
    for error in value:
        if not isinstance(error, dict) or not isinstance(error.get("StatusItem"), str):
            raise DdmError("each error needs a StatusItem string")
        errors.append(StatusError(error["StatusItem"][:MAX_NAME_LENGTH],
                                  _reasons(error.get("Reasons", []), "Code", "Description", "Details")))
    return tuple(errors)


def subscriptions_payload() -> dict[str, Any]:
    """The status items the server keeps, each one a user-enrolled iPhone reports (never serial, UDID...)."""
    return {"StatusItems": [{"Name": name} for name in SUBSCRIBED_ITEMS]}


def subscriptions_declaration(identifier: str) -> dict[str, Any]:
    """The status-subscriptions configuration's document (an activation must name it to apply it)."""
    payload = subscriptions_payload()
    return declaration_document(SUBSCRIPTIONS_TYPE, identifier, server_token(SUBSCRIPTIONS_TYPE, identifier, payload),
                                payload)


def inventory_facts(report: StatusReport) -> dict[str, Any]:
    """The report's values for the device row: ``os_version``, ``build_version``, ``product_name``,
    ``model``, ``model_name``, ``passcode_compliant``, ``passcode_present``
    (only those the report carries; strings longer than the column are left out)."""
    facts = {}
    for name, (field, length) in INVENTORY_ITEMS.items():
        value = report.items.get(name)
        if isinstance(value, bool) or isinstance(value, str) and 0 < len(value) <= length:
            facts[field] = storable(value)  # a NUL failed PostgreSQL's text, a 500
    return facts
