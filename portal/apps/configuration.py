"""Managed app configuration: a dictionary of property-list values, given as JSON or as the text of an
XML plist ``<dict>``, validated and bounded, with the profile variables (``$EMAIL``...) filled per device.

JSON has no dates or data: the XML form carries every plist type; the JSON form carries strings,
integers, reals, booleans, arrays and dictionaries. Either way the result is what ``plistlib`` can
write (keys are strings, integers fit 64 bits), at most 64 KiB and 16 levels deep.
"""
from __future__ import annotations

import base64
import hashlib
import math
from datetime import datetime
from typing import Any, Mapping

from mdm_core import bounded_json, plist
from mdm_core.profile_variables import check_variables, substitute, used_variables

MAX_BYTES = 64 * 1024
MAX_DEPTH = 16
MAX_ELEMENTS = 5000
_SCALARS = (str, bool, int, float, bytes, datetime)
_UNSTORABLE = ("{place} holds a character a property list cannot: a control character, U+FFFE, U+FFFF "
               "or an unpaired surrogate (\\uD800-\\uDFFF)")


class ConfigurationError(ValueError):
    """Not a configuration we accept; the message says where."""


def parse_configuration(value: Any) -> dict[str, Any] | None:
    """The configuration from the API or a form: a JSON object, the text of an XML plist dict, or
    None/empty for none."""
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, str):
        if plist.has_unstorable_text(value):  # an unpaired surrogate cannot even be encoded to be parsed
            raise ConfigurationError(_UNSTORABLE.format(place="the configuration"))
        encoded = value.encode()
        if len(encoded) > MAX_BYTES:
            raise ConfigurationError(f"the configuration is larger than {MAX_BYTES} bytes")
        text = value.strip()
        try:
            value = bounded_json.loads(text, max_depth=MAX_DEPTH) if text.startswith("{") else _xml_dict(encoded)
        except ValueError as exc:
            raise ConfigurationError(f"the configuration is neither a JSON object nor an XML plist dict: {exc}"[:300]) \
                from None
    if not isinstance(value, dict):
        raise ConfigurationError("the configuration must be a dictionary (a JSON object or an XML plist <dict>)")
    _check(value, "", 0, [0])
    if len(plist.dumps(value)) > MAX_BYTES:
        raise ConfigurationError(f"the configuration is larger than {MAX_BYTES} bytes as a property list")
    problems = check_variables(value)
    if problems:
        raise ConfigurationError(problems[0].message)
    return value


def _xml_dict(data: bytes) -> Any:
    if not data.lstrip().startswith(b"<?xml") and not data.lstrip().startswith(b"<!DOCTYPE"):
        data = (b'<?xml version="1.0" encoding="UTF-8"?><plist version="1.0">' + data + b"</plist>")
    return plist.loads(data, max_bytes=MAX_BYTES * 2)


def _check(value: Any, path: str, depth: int, seen: list[int]) -> None:
    seen[0] += 1
    if seen[0] > MAX_ELEMENTS or depth > MAX_DEPTH:
        raise ConfigurationError(f"the configuration is too large or too deep (at most {MAX_ELEMENTS} values, "
                                 f"{MAX_DEPTH} levels)")
    if isinstance(value, dict):
        for key, child in value.items():
            if not isinstance(key, str) or not key or len(key) > 255:
                raise ConfigurationError(f"{path or 'the top level'}: keys must be non-empty strings")
            if plist.has_unstorable_text(key):
                raise ConfigurationError(_UNSTORABLE.format(place=f"{path or 'the top level'}: a key"))
            _check(child, f"{path}.{key}" if path else key, depth + 1, seen)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _check(child, f"{path}[{index}]", depth + 1, seen)
    elif value is None or not isinstance(value, _SCALARS):
        raise ConfigurationError(f"{path}: null and other non-plist values are not allowed")
    elif isinstance(value, int) and not isinstance(value, bool) and not -(2 ** 63) <= value < 2 ** 64:
        raise ConfigurationError(f"{path}: the integer does not fit 64 bits")
    elif isinstance(value, str) and plist.has_unstorable_text(value):
        raise ConfigurationError(_UNSTORABLE.format(place=path))
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigurationError(f"{path}: only finite numbers are values")


def stored(configuration: Mapping[str, Any] | None) -> tuple[bytes | None, str | None]:
    """What the app row keeps: the XML plist and its SHA-256 (a revision that changes exactly when the
    content does)."""
    if configuration is None:
        return None, None
    data = plist.dumps(dict(configuration))
    return data, hashlib.sha256(data).hexdigest()


def load(data: bytes | None) -> dict[str, Any] | None:
    """The stored configuration as a dictionary."""
    return None if data is None else plist.loads(bytes(data))


def variables_of(configuration: Mapping[str, Any] | None) -> str:
    """The variables a configuration is filled in with, sorted and space-separated ("" for none)."""
    return " ".join(sorted(used_variables(configuration))) if configuration else ""


def for_device(configuration: Mapping[str, Any], values: Mapping[str, str | None]) -> dict[str, Any]:
    """The configuration with the variables filled for one device (VariableError when one has no value)."""
    return substitute(configuration, values)


def as_json(value: Any) -> Any:
    """A configuration as JSON shows it: dates as ISO 8601 text, data as base64 text."""
    if isinstance(value, dict):
        return {key: as_json(child) for key, child in value.items()}
    if isinstance(value, list):
        return [as_json(child) for child in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value.isoformat() if isinstance(value, datetime) else value
