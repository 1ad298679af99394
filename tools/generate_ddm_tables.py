"""Generate ``mdm_core/data/ddm.json`` from Apple's declarative device management schemas.

Run by a developer whenever ``../shared/apple-device-management`` moves to a new commit::

    python tools/generate_ddm_tables.py [SCHEMA_DIR] [OUTPUT]

Only iOS is tabulated. Declarations and status items say who may use them with
``supportedOS.iOS.allowed-enrollments`` (not MDM's ``userenrollment.mode``): User Enrollment may
use one when the list holds ``user`` and its ``allowed-scopes`` hold ``system`` (on iOS a
user-enrolled device has only the device channel; the user channel is Shared iPad's). A list that
is absent restricts nothing (assets, activations and management declarations carry none). Keys
inherit their parent's ``supportedOS`` and override it with their own, as in the MDM schemas;
``introduced: n/a`` means "not on iOS". The output is deterministic so a test can re-derive it.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the MDM tables' generator, beside this one
from generate_capability_tables import PLATFORM, REPO_ROOT, load_yaml, main, render  # noqa: E402

DEFAULT_OUTPUT = REPO_ROOT / "mdm_core" / "data" / "ddm.json"
__all__ = ["generate", "render"]
#: Schema directory -> the declaration kind it holds (the manifest's lists use the same four).
KINDS = {"activations": "activation", "assets": "asset", "configurations": "configuration",
         "management": "management"}


def ios_entry(parent: dict[str, Any], supported_os: dict[str, Any] | None) -> dict[str, Any]:
    """A key's own iOS ``supportedOS`` entry merged over what it inherits."""
    return {**parent, **((supported_os or {}).get(PLATFORM) or {})}


def support(ios: dict[str, Any]) -> dict[str, Any]:
    """The compact iOS facts kept for a declaration, key or status item."""
    introduced = ios.get("introduced")
    if introduced is None or introduced == "n/a":
        return {"ios": False}
    enrollments = ios.get("allowed-enrollments")
    scopes = ios.get("allowed-scopes")
    user = (enrollments is None or "user" in enrollments) and (scopes is None or "system" in scopes)
    fields: dict[str, Any] = {"ios": True, "introduced": str(introduced), "ue": user}
    if enrollments is not None:
        fields["allowed_enrollments"] = list(enrollments)
    if ios.get("removed"):
        fields["removed"] = str(ios["removed"])
    return fields


def key_table(keys: list[dict[str, Any]], parent: dict[str, Any], ancestors: frozenset[int]) -> dict[str, Any]:
    """Describe ``payloadkeys``/``subkeys`` by name; YAML aliases that loop back are cut."""
    return {key["key"]: key_entry(key, parent, ancestors) for key in keys}


def key_entry(key: dict[str, Any], parent: dict[str, Any], ancestors: frozenset[int]) -> dict[str, Any]:
    """A key's type and presence; its iOS facts only where they differ from its parent's (``ue`` only when false)."""
    ios = ios_entry(parent, key.get("supportedOS"))
    inherited = support(parent)
    entry = {"type": key.get("type", "<any>"), "presence": key.get("presence") or "optional",
             **{name: value for name, value in support(ios).items()
                if name == "ios" or (name != "ue" or not value) and inherited.get(name) != value}}
    for field in ("rangelist", "assettypes"):
        if field in key:
            entry[field] = key[field]
    if "range" in key:  # the bounds a number must lie within (both optional)
        entry["range"] = {bound: key["range"][bound] for bound in ("min", "max") if bound in key["range"]}
    subkeys = key.get("subkeys")
    if not subkeys or not entry["ios"] or id(subkeys) in ancestors:
        return entry
    inner = ancestors | {id(subkeys)}
    if entry["type"] == "<array>":
        entry["item"] = key_entry(subkeys[0], ios, inner)
    else:
        entry["subkeys"] = key_table(subkeys, ios, inner)
    return entry


def declarations(schema_dir: Path) -> dict[str, Any]:
    table = {}
    for folder, kind in KINDS.items():
        for path in sorted((schema_dir / "declarative" / "declarations" / folder).glob("*.yaml")):
            document = load_yaml(path)
            payload = document["payload"]
            ios = ios_entry({}, payload.get("supportedOS"))
            entry = {"kind": kind, "apply": payload.get("apply", "multiple"), **support(ios)}
            if entry["ios"]:
                entry["keys"] = key_table(document.get("payloadkeys") or [], ios, frozenset())
            table[payload["declarationtype"]] = entry
    return table


def asset_data(schema_dir: Path) -> dict[str, Any]:
    """The JSON documents credential assets point at (``credentials/*.yaml``), by file name."""
    table = {}
    for path in sorted((schema_dir / "declarative" / "declarations" / "assets" / "credentials").glob("*.yaml")):
        document = load_yaml(path)
        ios = ios_entry({}, document["payload"].get("supportedOS"))
        table[path.stem] = {**support(ios), "keys": key_table(document.get("payloadkeys") or [], ios, frozenset())}
    return table


def status_items(schema_dir: Path) -> dict[str, Any]:
    table = {}
    for path in sorted((schema_dir / "declarative" / "status").glob("*.yaml")):
        document = load_yaml(path)
        name = document["payload"].get("statusitemtype")
        if name is None:  # statusreason.yaml describes the shape of a reason, not an item
            continue
        ios = ios_entry({}, document["payload"].get("supportedOS"))
        table[name] = {"type": document["payloadkeys"][0]["type"], **support(ios)}
    return table


def reasons(schema_dir: Path) -> list[str]:
    """The reason codes a device may give for a declaration, in schema order."""
    base = load_yaml(schema_dir / "declarative" / "declarations" / "declarationbase.yaml")
    return [reason["value"] for reason in base.get("reasons", [])]


def generate(schema_dir: Path) -> dict[str, Any]:
    return {
        "source_commit": (schema_dir / "SOURCE_COMMIT").read_text(encoding="utf-8").strip(),
        "platform": PLATFORM,
        "declarations": declarations(schema_dir),
        "asset_data": asset_data(schema_dir),
        "status_items": status_items(schema_dir),
        "reasons": reasons(schema_dir),
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv, generate, DEFAULT_OUTPUT))
