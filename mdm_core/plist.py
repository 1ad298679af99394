"""Safe property-list decoding for untrusted bodies from devices and uploads."""
from __future__ import annotations

import plistlib
from typing import Any

MAX_PLIST_BYTES = 1024 * 1024
MAX_DEPTH = 32  # Apple's MDM bodies nest a few levels; deeper input is hostile and would exhaust recursion later


class PlistError(ValueError):
    """The bytes are not a property list we accept; the message says why."""


def loads(data: bytes, *, max_bytes: int = MAX_PLIST_BYTES, expect_dict: bool = True) -> Any:
    """Decode an XML or binary plist, refusing oversized input and non-dictionary roots.

    XML entity expansion is not a risk here: plistlib's expat parser rejects DTD entity
    declarations (``plistlib.InvalidFileException``), so billion-laughs bodies fail fast.
    """
    if not data:
        raise PlistError("empty body: a property list was expected")
    if len(data) > max_bytes:
        raise PlistError(f"property list larger than {max_bytes} bytes")
    try:
        value = plistlib.loads(data)
    except (plistlib.InvalidFileException, ValueError, TypeError, OverflowError, IndexError, KeyError) as exc:
        raise PlistError(f"not a valid property list: {exc.__class__.__name__}") from None
    except Exception as exc:  # expat and binary parsers raise assorted errors on hostile input
        raise PlistError(f"not a valid property list: {exc.__class__.__name__}") from None
    if expect_dict and not isinstance(value, dict):
        raise PlistError("the property list's root must be a dictionary")
    _check_depth(value)
    return value


def _check_depth(value: Any) -> None:
    if nested_deeper_than(value, MAX_DEPTH):
        raise PlistError(f"property list nested deeper than {MAX_DEPTH} levels")


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether dictionaries and lists in ``value`` nest more than ``limit`` levels (a decoded plist or
    JSON document); an iterative walk, so hostile nesting has no recursion to exhaust."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def dumps(value: Any) -> bytes:
    """Encode as an XML plist, the form Apple documents for MDM bodies."""
    return plistlib.dumps(value, fmt=plistlib.FMT_XML, sort_keys=True)
