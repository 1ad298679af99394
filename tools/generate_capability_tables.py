"""Generate ``mdm_core/data/capabilities.json`` from Apple's device-management schemas.

Run by a developer whenever ``../shared/apple-device-management`` moves to a new commit::

    python tools/generate_capability_tables.py [SCHEMA_DIR] [OUTPUT]

Only iOS is tabulated. The schema's inheritance rule (docs/schema.md, "supportedOS"): every
key inherits its parent's ``supportedOS`` values and overrides them with its own, so a key's
User Enrollment mode is its own ``userenrollment.mode`` if given, else its parent's, up to the
payload level. ``introduced: n/a`` means "not on iOS". The output is deterministic (sorted
keys, schema order for lists), so a test can re-derive it and compare.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SCHEMA_DIR = REPO_ROOT / ".." / "shared" / "apple-device-management"
DEFAULT_OUTPUT = REPO_ROOT / "mdm_core" / "data" / "capabilities.json"
PLATFORM = "iOS"

# Profile schema files that describe profile structure rather than a payload type.
TOP_LEVEL = "TopLevel"
COMMON_PAYLOAD_KEYS = "CommonPayloadKeys"


def ios_support(parent: dict[str, Any], supported_os: dict[str, Any] | None) -> dict[str, Any]:
    """Merge a key's own iOS ``supportedOS`` entry over the values it inherits."""
    own = (supported_os or {}).get(PLATFORM) or {}
    merged = {**parent, **own}
    if "userenrollment" in own:
        merged["userenrollment"] = {**parent.get("userenrollment", {}), **own["userenrollment"]}
    return merged


def support_fields(ios: dict[str, Any]) -> dict[str, Any]:
    """The compact iOS facts kept for a command, payload or key."""
    introduced = ios.get("introduced")
    if introduced is None or introduced == "n/a":
        return {"ios": False}
    fields: dict[str, Any] = {"ios": True, "ue": (ios.get("userenrollment") or {}).get("mode")}
    if ios.get("supervised"):
        fields["supervised"] = True
    if ios.get("requiresdep"):
        fields["requiresdep"] = True
    for version_key in ("deprecated", "removed"):
        if ios.get(version_key):
            fields[version_key] = str(ios[version_key])
    return fields


def key_table(keys: list[dict[str, Any]], parent: dict[str, Any], ancestors: frozenset[int]) -> dict[str, Any]:
    """Describe ``payloadkeys``/``subkeys`` by name; YAML aliases that loop back are cut."""
    return {key["key"]: key_entry(key, parent, ancestors) for key in keys}


def key_entry(key: dict[str, Any], parent: dict[str, Any], ancestors: frozenset[int]) -> dict[str, Any]:
    ios = ios_support(parent, key.get("supportedOS"))
    entry = {"type": key.get("type", "<any>"), "presence": key.get("presence") or "optional", **support_fields(ios)}
    if "rangelist" in key:
        entry["rangelist"] = key["rangelist"]
    subkeys = key.get("subkeys")
    if not subkeys or not entry["ios"] or id(subkeys) in ancestors:
        return entry
    inner = ancestors | {id(subkeys)}
    if entry["type"] == "<array>" and len(subkeys) == 1:
        entry["item"] = key_entry(subkeys[0], ios, inner)
    elif entry["type"] == "<array>":
        # Settings: each array element is a dictionary chosen by its "Item" value.
        entry["variants"] = key_table(subkeys, ios, inner)
    elif len(subkeys) == 1 and subkeys[0]["key"] == f'{key["key"]}Item' and subkeys[0].get("subkeys"):
        # A dictionary keyed by free-form names (TopLevel ConsentText: language -> text) is written
        # as one "<Name>Item" dictionary holding an ANY key; keep the ANY key itself.
        entry["subkeys"] = key_table(subkeys[0]["subkeys"], ios_support(ios, subkeys[0].get("supportedOS")), inner)
    else:
        entry["subkeys"] = key_table(subkeys, ios, inner)
    return entry


def load_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def top_level_entry(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Payload-level facts plus the iOS entry its keys inherit."""
    payload = document["payload"]
    ios_entry = (payload.get("supportedOS") or {}).get(PLATFORM) or {}
    entry = {"introduced": str(ios_entry["introduced"]) if "introduced" in ios_entry else None,
             **support_fields(ios_entry)}
    return entry, ios_entry


def described(document: dict[str, Any]) -> dict[str, Any]:
    entry, ios_entry = top_level_entry(document)
    if entry["ios"]:
        entry["keys"] = key_table(document.get("payloadkeys") or [], ios_entry, frozenset())
    return entry


def commands(schema_dir: Path) -> dict[str, Any]:
    """Each command's keys and, as ``response``, the keys of its answer (what a device may reveal is read from
    them: a key the schema does not list for iOS, or that User Enrollment forbids, is never kept)."""
    table = {}
    for path in sorted((schema_dir / "mdm" / "commands").glob("*.yaml")):
        document = load_yaml(path)
        entry = table[document["payload"]["requesttype"]] = described(document)
        if entry["ios"] and document.get("responsekeys"):
            entry["response"] = key_table(document["responsekeys"], top_level_entry(document)[1], frozenset())
    return table


def checkin_messages(schema_dir: Path) -> dict[str, Any]:
    table = {}
    for path in sorted((schema_dir / "mdm" / "checkin").glob("*.yaml")):
        document = load_yaml(path)
        table[document["payload"]["requesttype"]] = described(document)
    return table


def profile_files(schema_dir: Path) -> list[Path]:
    """Base files before their variants, e.g. ``extensiblesso.yaml`` before ``extensiblesso(kerberos).yaml``."""
    return sorted((schema_dir / "mdm" / "profiles").glob("*.yaml"), key=lambda p: ("(" in p.name, p.name))


def profiles(schema_dir: Path) -> dict[str, Any]:
    """Payload types; several files for one type merge (the first file's keys win)."""
    table: dict[str, Any] = {}
    for path in profile_files(schema_dir):
        document = load_yaml(path)
        payload_type = document["payload"]["payloadtype"]
        entry = described(document)
        previous = table.get(payload_type)
        if previous is None or (entry["ios"] and not previous["ios"]):
            table[payload_type] = entry
        elif entry["ios"]:
            previous["keys"] = {**entry["keys"], **previous["keys"]}
    return table


def device_information_queries(command_table: dict[str, Any]) -> list[dict[str, Any]]:
    """The values allowed in ``DeviceInformation.Queries``, in schema order."""
    query_item = command_table["DeviceInformation"]["keys"]["Queries"]["item"]
    kept = ("ios", "ue", "supervised")
    return [{"name": name, **{field: spec[field] for field in kept if field in spec}}
            for name, spec in query_item["subkeys"].items()]


def generate(schema_dir: Path) -> dict[str, Any]:
    command_table = commands(schema_dir)
    profile_table = profiles(schema_dir)
    return {
        "source_commit": (schema_dir / "SOURCE_COMMIT").read_text(encoding="utf-8").strip(),
        "platform": PLATFORM,
        "commands": command_table,
        "checkin": checkin_messages(schema_dir),
        "device_information_queries": device_information_queries(command_table),
        "profile_top_level": profile_table.pop(TOP_LEVEL),
        "profile_common_keys": profile_table.pop(COMMON_PAYLOAD_KEYS),
        "profiles": profile_table,
    }


def render(tables: dict[str, Any]) -> str:
    return json.dumps(tables, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str], tables: Callable[[Path], dict[str, Any]] = generate, default_output: Path = DEFAULT_OUTPUT
         ) -> int:
    """``[SCHEMA_DIR] [OUTPUT]``: write the tables (also ``generate_ddm_tables``'s command line)."""
    schema_dir = Path(argv[1]) if len(argv) > 1 else DEFAULT_SCHEMA_DIR
    output = Path(argv[2]) if len(argv) > 2 else default_output
    output.write_text(render(tables(schema_dir)), encoding="utf-8")
    print(f"wrote {output} from {schema_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
