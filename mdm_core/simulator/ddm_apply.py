"""How the simulated iPhone applies the declarations it holds, as iOS documents it.

A configuration takes effect only while an active activation names it; an asset only while an
active configuration references it. What the device cannot take (a type User Enrollment does not
allow, an unknown key, a missing asset) is reported with the reason codes of
``declarationbase.yaml`` and left unapplied. The result is pure data: each declaration's state,
and the status values that applying them produced (accounts, passcode compliance, managed apps,
certificates).
"""
from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mdm_core.ddm import MANAGED_APP_TYPE, predicate
from mdm_core.ddm.declarations import validate
from mdm_core.profile_builders.base import BuildError
from mdm_core.profile_builders.certificates import certificate_der
from mdm_core.results import certificate_record
from mdm_core.ddm.tables import declaration_spec
from mdm_core.simulator.apps import unread_manifest_bundle_id
from mdm_core.vpp.standin_state import store_bundle_id

#: Account configuration type -> the status items its account appears in.
ACCOUNT_LISTS = {
    "com.apple.configuration.account.caldav": ("account.list.caldav",),
    "com.apple.configuration.account.carddav": ("account.list.carddav",),
    "com.apple.configuration.account.exchange": ("account.list.exchange",),
    "com.apple.configuration.account.google": ("account.list.google",),
    "com.apple.configuration.account.ldap": ("account.list.ldap",),
    "com.apple.configuration.account.mail": ("account.list.mail.incoming", "account.list.mail.outgoing"),
    "com.apple.configuration.account.subscribed-calendar": ("account.list.subscribed-calendar",),
}
ACTIVATION = "com.apple.activation.simple"
SUBSCRIPTIONS = "com.apple.configuration.management.status-subscriptions"
PASSCODE = "com.apple.configuration.passcode.settings"
CERTIFICATE = "com.apple.configuration.security.certificate"
PROPERTIES = "com.apple.management.properties"
#: The user's passcode: six digits, no letters (what most iPhones have).
PASSCODE_LENGTH = 6


@dataclass(frozen=True)
class Held:
    """A declaration the device fetched."""

    kind: str
    type: str
    identifier: str
    server_token: str
    payload: Mapping[str, Any]


@dataclass
class Outcome:
    """Each declaration's reported state, and what the active ones produced."""

    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: set[str] = field(default_factory=set)
    values: dict[str, Any] = field(default_factory=dict)


def evaluate(held: Mapping[str, Held], *, user_enrollment: bool, facts: Mapping[str, Any],
             asset_data: Mapping[str, bytes]) -> Outcome:
    """Apply every held declaration; ``facts`` are the status values predicates can read, ``asset_data`` the
    downloaded data of assets (a certificate configuration installs its asset's certificate)."""
    outcome = Outcome()
    problems = {identifier: _refusal(item, user_enrollment) for identifier, item in held.items()}
    properties = {key: value for item in held.values() if item.type == PROPERTIES and not problems[item.identifier]
                  for key, value in item.payload.items()}
    active_configurations: set[str] = set()
    for item in held.values():
        if item.kind == "activation" and not problems[item.identifier]:
            active_configurations |= _activate(item, held, facts, properties, outcome)
    active_assets: set[str] = set()
    for item in held.values():
        if item.kind != "configuration":
            continue
        if problems[item.identifier]:
            outcome.states[item.identifier] = _state(item, False, "invalid", problems[item.identifier])
        elif item.identifier not in active_configurations:
            outcome.states[item.identifier] = _state(item, False, "valid", [_reason("Info.NotReferencedByActivation",
                                                                                    item)])
        else:
            missing = sorted(ref for ref in _asset_references(item.payload) if ref not in held)
            if missing:
                outcome.states[item.identifier] = _state(item, False, "valid", [_reason(
                    "Error.MissingAssets", item, AssetIdentifiers=missing)])
                continue
            active_assets |= set(_asset_references(item.payload))
            outcome.states[item.identifier] = _state(item, True, "valid")
            _apply(item, outcome, asset_data)
    for item in held.values():
        if item.kind == "activation" and problems[item.identifier]:
            outcome.states[item.identifier] = _state(item, False, "invalid", problems[item.identifier])
        elif item.kind == "asset":
            reasons = problems[item.identifier] or ([] if item.identifier in active_assets else
                                                    [_reason("Info.NotReferencedByConfiguration", item)])
            outcome.states[item.identifier] = _state(item, item.identifier in active_assets and not problems[
                item.identifier], "invalid" if problems[item.identifier] else "valid", reasons)
        elif item.kind == "management":
            outcome.states[item.identifier] = _state(item, not problems[item.identifier],
                                                     "invalid" if problems[item.identifier] else "valid",
                                                     problems[item.identifier])
    outcome.values["passcode.is-compliant"] = _passcode_compliant(held, outcome)
    return outcome


def _activate(item: Held, held: Mapping[str, Held], facts: Mapping[str, Any], properties: Mapping[str, Any],
              outcome: Outcome) -> set[str]:
    predicate = item.payload.get("Predicate")
    if predicate is not None:
        result = evaluate_predicate(predicate, facts, properties)
        if result is None:
            outcome.states[item.identifier] = _state(item, False, "invalid", [_reason(
                "Error.UnableToParsePredicate", item, Predicate=predicate)])
            return set()
        if not result:
            outcome.states[item.identifier] = _state(item, False, "valid", [_reason("Info.Predicate", item,
                                                                                    Predicate=predicate)])
            return set()
    named = set(item.payload.get("StandardConfigurations", []))
    missing = sorted(identifier for identifier in named if identifier not in held)
    if missing:
        outcome.states[item.identifier] = _state(item, False, "valid", [_reason(
            "Error.MissingConfigurations", item, ConfigurationIdentifiers=missing)])
        return set()
    outcome.states[item.identifier] = _state(item, True, "valid")
    return named


def _refusal(item: Held, user_enrollment: bool) -> list[dict[str, Any]]:
    """The reasons the device cannot take a declaration at all (empty when it can)."""
    spec = declaration_spec(item.type)
    if spec is None or spec.kind != item.kind or not spec.ios_supported or user_enrollment and not spec.user_enrollment:
        return [_reason("Error.ConfigurationNotSupported", item)]
    errors = [problem for problem in validate(item.type, item.payload, user_enrollment=user_enrollment)
              if problem.severity == "error"]
    unknown = [problem.key for problem in errors if problem.message.startswith("unknown key")]
    if unknown:
        return [{"code": "Error.UnknownPayloadKeys", "details": {"UnknownPayloadKeys": unknown}}]
    if errors:
        return [{"code": "Error.ConfigurationIsInvalid", "details": {"Error": errors[0].message}}]
    return []


def evaluate_predicate(text: str, facts: Mapping[str, Any], properties: Mapping[str, Any]) -> bool | None:
    """What the phone decides for an activation's predicate; None when it cannot parse it."""
    try:
        tree = predicate.parse(text)
    except predicate.PredicateError:
        return None
    return predicate.evaluate(tree, facts, properties)


def _asset_references(payload: Mapping[str, Any]) -> list[str]:
    """Every ``...AssetReference`` value, at any depth."""
    found, pending = [], [payload]
    while pending:
        node = pending.pop()
        for key, value in node.items():
            if key.endswith("AssetReference") and isinstance(value, str):
                found.append(value)
            elif isinstance(value, Mapping):
                pending.append(value)
    return found


def _apply(item: Held, outcome: Outcome, asset_data: Mapping[str, bytes]) -> None:
    if item.type == SUBSCRIPTIONS:
        outcome.subscriptions |= {entry["Name"] for entry in item.payload.get("StatusItems", [])}
    for list_name in ACCOUNT_LISTS.get(item.type, ()):
        entry = {"identifier": f"{item.identifier}.{list_name.rsplit('.', 1)[-1]}",
                 "declaration-identifier": item.identifier}
        if "VisibleName" in item.payload:
            entry["visible-name"] = item.payload["VisibleName"]
        entry.update(_server(item.payload, list_name))
        outcome.values.setdefault(list_name, []).append(entry)
    if item.type == MANAGED_APP_TYPE:
        outcome.values.setdefault("app.managed.list", []).append(
            {"identifier": _bundle_id(item), "declaration-identifier": item.identifier, "state": "managed"})
    reference = item.payload.get("CredentialAssetReference")
    if item.type == CERTIFICATE and isinstance(reference, str) and reference in asset_data:
        entry = _certificate_entry(reference, asset_data[reference])
        if entry is not None:
            outcome.values.setdefault("security.certificate.list", []).append(entry)


def _bundle_id(item: Held) -> str:
    """The bundle ID a phone reports for the app a managed-app declaration installs: the App Store's for an
    ``AppStoreID`` (the stand-in store's, as the command path's install gives it: ``mdm_core.simulator.apps``),
    for a ``ManifestURL`` one named from the URL (this simulator does not fetch a declared app's manifest), else
    the declared ``BundleID``."""
    payload = item.payload
    store_id = payload.get("AppStoreID")
    if isinstance(store_id, str) and store_id:
        # the command path sends the number: "0123" is app 123 there too
        return store_bundle_id(int(store_id) if store_id.isascii() and store_id.isdigit() else store_id)
    if isinstance(payload.get("ManifestURL"), str):
        return unread_manifest_bundle_id(payload["ManifestURL"])
    return str(payload.get("BundleID") or item.identifier)


def _server(payload: Mapping[str, Any], list_name: str) -> dict[str, Any]:
    """An account entry's ``hostname`` and ``port``: a mail account's from its incoming or outgoing server."""
    if list_name.startswith("account.list.mail."):
        server = payload.get("IncomingServer" if list_name.endswith("incoming") else "OutgoingServer")
    else:
        server = payload
    if not isinstance(server, Mapping):
        return {}
    found = {"hostname": server.get("HostName"), "port": server.get("Port")}
    return {key: value for key, value in found.items() if value is not None}


def _certificate_entry(asset: str, data: bytes) -> dict[str, Any] | None:
    """``security.certificate.list``'s entry for the certificate an asset holds (DER or PEM), None if it holds none."""
    try:
        der = certificate_der(data, asset)
    except BuildError:
        return None
    entry = {"identifier": asset, "declaration-identifier": asset, "is-identity": False,
             "data": base64.b64encode(der).decode()}
    common_name = certificate_record(der).common_name
    if common_name:
        entry["subject-summary"] = common_name
    return entry


def _passcode_compliant(held: Mapping[str, Held], outcome: Outcome) -> bool:
    """A six-digit passcode meets every active passcode configuration unless it asks for more."""
    for item in held.values():
        if item.type == PASSCODE and outcome.states.get(item.identifier, {}).get("active"):
            policy = item.payload
            if (policy.get("MinimumLength", 0) > PASSCODE_LENGTH or policy.get("RequireAlphanumericPasscode")
                    or policy.get("RequireComplexPasscode") or policy.get("MinimumComplexCharacters", 0) > 0):
                return False
    return True


def _state(item: Held, active: bool, valid: str, reasons: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"identifier": item.identifier, "server-token": item.server_token, "active": active,
                             "valid": valid}
    if reasons:
        state["reasons"] = reasons
    return state


def _reason(code: str, item: Held, **details: Any) -> dict[str, Any]:
    return {"code": code, "details": {"Identifier": item.identifier, "ServerToken": item.server_token, **details}}
