"""Per-user variables in profile text, filled in for each device when the profile is sent.

One Exchange or mail profile then serves everyone: ``UserName`` = ``$USERNAME``,
``EmailAddress`` = ``$EMAIL``. The rules:

- A variable is ``$`` followed by the longest run of capitals, digits and ``_``
  (``$USERNAME@example.com`` uses ``USERNAME``). Known: ``$MANAGED_APPLE_ID``, ``$EMAIL``,
  ``$FULL_NAME``, ``$USERNAME`` (the Managed Apple ID before ``@``), ``$ENROLLMENT_ID``. Any
  other capitalised name is an error, so a typo never reaches a phone as literal text.
- ``$$`` is a literal ``$`` (needed to send text such as ``$EMAIL`` or a password like
  ``Pa$Word`` verbatim). A ``$`` before anything else (lower case, a digit, the end) stays as it is.
- Only string *values* are read, at any depth; dictionary keys are Apple's key names (and
  ``ExtensionData`` keys a vendor's), never user text, and ``<data>`` is opaque bytes.
- The profile's and each payload's ``PayloadIdentifier`` and ``PayloadUUID`` are never read: they are
  sent exactly as stored (``$$`` stays ``$$``, ``$USERNAME`` stays ``$USERNAME``), because the phone files
  the profile under its identifier and ``RemoveProfile`` and ``ProfileList`` name the stored one. A ``$``
  in them is no variable use; :func:`identifier_warnings` tells the uploader so.
- A value is inserted as plain string content: it is never read for variables again, and
  plistlib escapes it when the profile is written, so a name with ``<`` or ``&`` is harmless.

Work is one pass over the profile as a tree (each string scanned once by one regular expression);
:func:`mdm_core.mobileconfig.decode` bounds that tree by the upload's size. Recursion follows the
profile's nesting, which :mod:`mdm_core.plist` limits to 32 levels.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mdm_core.capabilities import Problem

VARIABLES: tuple[str, ...] = ("MANAGED_APPLE_ID", "EMAIL", "FULL_NAME", "USERNAME", "ENROLLMENT_ID")
_TOKEN = re.compile(r"\$(\$|[A-Z_][A-Z0-9_]*)")
# What an XML 1.0 plist string cannot hold (plistlib would refuse to write it).
_NOT_PLIST_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TOP_LEVEL = "Configuration"
#: Keys sent as stored, at the top level and at the top of each payload (see the module docstring).
IDENTIFIER_KEYS = frozenset({"PayloadIdentifier", "PayloadUUID"})


class VariableError(ValueError):
    """A variable is unknown, or has no value for this device; the message names it and where it is."""

    def __init__(self, message: str, variable: str, payload_type: str, key: str) -> None:
        super().__init__(message)
        self.variable, self.payload_type, self.key = variable, payload_type, key


@dataclass(frozen=True)
class VariableUse:
    """One ``$NAME`` in a profile: which payload (by type) and which key path holds it."""

    variable: str
    payload_type: str
    key: str


def device_values(*, managed_apple_id: str | None = None, email: str | None = None, full_name: str | None = None,
                  enrollment_id: str | None = None) -> dict[str, str | None]:
    """The variables' values for one device; ``USERNAME`` comes from the Managed Apple ID."""
    username = managed_apple_id.rpartition("@")[0] or None if managed_apple_id else None
    return {"MANAGED_APPLE_ID": managed_apple_id, "EMAIL": email, "FULL_NAME": full_name, "USERNAME": username,
            "ENROLLMENT_ID": enrollment_id}


def find_variables(profile: Mapping[str, Any]) -> list[VariableUse]:
    """Every variable use in ``profile``, in document order (``$$`` escapes are not uses)."""
    uses: list[VariableUse] = []

    def record(text: str, payload_type: str, path: str) -> str:
        uses.extend(VariableUse(name, payload_type, path) for name in _TOKEN.findall(text) if name != "$")
        return text

    _copy(profile, record)
    return uses


def used_variables(profile: Mapping[str, Any]) -> set[str]:
    """The known variables ``profile`` uses: what its copy for one device depends on, so its ServerToken
    moves when one of their values does and only then."""
    return {use.variable for use in find_variables(profile) if use.variable in VARIABLES}


def check_variables(profile: Mapping[str, Any]) -> list[Problem]:
    """An error for each unknown variable, naming the payload and key, for the checker's verdict."""
    return [Problem("error", use.key, f"{use.key} uses ${use.variable}, which is not a variable "
                    f"(known: {', '.join('$' + name for name in VARIABLES)}; write $$ for a literal $)",
                    use.payload_type)
            for use in find_variables(profile) if use.variable not in VARIABLES]


def identifier_warnings(profile: Mapping[str, Any]) -> list[Problem]:
    """A warning for each identifier holding what would elsewhere be a variable or a ``$$``: it is sent as written."""
    problems = []
    for payload_type, where in _identifiers(profile):
        for name, value in where.items():
            if name in IDENTIFIER_KEYS and isinstance(value, str) and _TOKEN.search(value):
                problems.append(Problem("warning", name, f"{name} {value[:80]!r} is sent exactly as written: "
                                        "variables and $$ are not filled in in identifiers", payload_type))
    return problems


def substitute(profile: Mapping[str, Any], values: Mapping[str, str | None]) -> dict[str, Any]:
    """A copy of ``profile`` with every variable replaced by its value for one device.

    Raises :class:`VariableError` for an unknown variable, a variable without a value (None
    or empty) for this device, or a value a property list cannot hold.
    """
    def replace_in(text: str, payload_type: str, path: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "$":
                return "$"
            if name not in VARIABLES:
                raise VariableError(f"{payload_type} {path}: ${name} is not a variable", name, payload_type, path)
            value = values.get(name)
            if not value:
                raise VariableError(f"{payload_type} {path}: ${name} has no value for this device",
                                    name, payload_type, path)
            if _NOT_PLIST_TEXT.search(value):
                raise VariableError(f"{payload_type} {path}: the value of ${name} holds a character a property "
                                    "list cannot", name, payload_type, path)
            return value
        return _TOKEN.sub(one, text) if "$" in text else text

    return _copy(profile, replace_in)


def _copy(profile: Mapping[str, Any], replace: Callable[[str, str, str], str]) -> dict[str, Any]:
    """Rebuild the profile with each string value passed through ``replace(text, payload type, key path)``,
    except the identifiers (``IDENTIFIER_KEYS``); paths inside a payload are relative to it
    (``EAPClientConfiguration.UserName``)."""
    def copy(value: Any, payload_type: str, path: str) -> Any:
        if isinstance(value, str):
            return replace(value, payload_type, path)
        if isinstance(value, Mapping):
            return {name: copy(child, payload_type, f"{path}.{name}" if path else str(name))
                    for name, child in value.items()}
        if isinstance(value, (list, tuple)):
            return [copy(child, payload_type, f"{path}[{index}]") for index, child in enumerate(value)]
        return value

    def copy_payload(payload: Any, payload_type: str) -> Any:
        if not isinstance(payload, Mapping):
            return copy(payload, payload_type, "")
        return {name: child if name in IDENTIFIER_KEYS and isinstance(child, str) else copy(child, payload_type, str(name))
                for name, child in payload.items()}

    result: dict[str, Any] = {}
    for name, value in profile.items():
        if name == "PayloadContent" and isinstance(value, list):
            result[name] = [copy_payload(payload, _payload_type(payload, index)) for index, payload in enumerate(value)]
        elif name in IDENTIFIER_KEYS and isinstance(value, str):
            result[name] = value  # sent as stored: the phone files the profile under it
        else:
            result[name] = copy(value, _TOP_LEVEL, str(name))
    return result


def _identifiers(profile: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The dictionaries whose identifier keys are sent as stored: the profile and each payload, with their type."""
    content = profile.get("PayloadContent")
    payloads = [(_payload_type(payload, index), payload) for index, payload in
                enumerate(content if isinstance(content, list) else ()) if isinstance(payload, Mapping)]
    return [(_TOP_LEVEL, profile), *payloads]


def _payload_type(payload: Any, index: int) -> str:
    payload_type = payload.get("PayloadType") if isinstance(payload, Mapping) else None
    return payload_type if isinstance(payload_type, str) else f"PayloadContent[{index}]"
