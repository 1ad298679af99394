"""Safe property-list decoding for untrusted bodies from devices and uploads."""
from __future__ import annotations

import math
import plistlib
import re
from typing import Any

from mdm_core import plist_reader

MAX_PLIST_BYTES = 1024 * 1024
MAX_DEPTH = 32  # Apple's MDM bodies nest a few levels; deeper input is hostile and would exhaust recursion later
_CONTAINERS = (dict, list)
#: What an XML property list cannot hold: C0 controls but tab, LF and CR (plistlib refuses to write them),
#: unpaired surrogates (UTF-8 cannot encode them; JSON can carry them) and U+FFFE, U+FFFF (expat refuses to
#: read them). NUL is among them, which PostgreSQL's text refuses too.
_NOT_PLIST_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_INTEGERS = range(-(2 ** 63), 2 ** 64)
_BINARY = b"bplist00"
#: A binary plist writes a string or data once and refers to it for a few bytes from every place it stands: its text
#: and data, counted at each place, may come to this many times its bytes (dictionary keys shared by every entry of a
#: list, as Apple's writer shares them, come to a few times), no more: each copy of the value written again (XML,
#: JSON) would be the text again.
MAX_TEXT_EXPANSION = 16


class PlistError(ValueError):
    """The bytes are not a property list we accept; the message says why."""


def loads(data: bytes, *, max_bytes: int = MAX_PLIST_BYTES, expect_dict: bool = True) -> Any:
    """Decode an XML or binary plist, refusing oversized input and non-dictionary roots.

    XML is read by ``plist_reader`` (plistlib's rules, its text buffered), binary by plistlib. Entity
    expansion is not a risk: both refuse DTD entity declarations (``plistlib.InvalidFileException``),
    so billion-laughs bodies fail fast.
    """
    if not data:
        raise PlistError("empty body: a property list was expected")
    if len(data) > max_bytes:
        raise PlistError(f"property list larger than {max_bytes} bytes")
    try:
        value = plist_reader.read(data)
    except (plistlib.InvalidFileException, ValueError, TypeError, OverflowError, IndexError, KeyError) as exc:
        raise PlistError(f"not a valid property list: {exc.__class__.__name__}") from None
    except Exception as exc:  # expat and binary parsers raise assorted errors on hostile input
        raise PlistError(f"not a valid property list: {exc.__class__.__name__}") from None
    if expect_dict and not isinstance(value, dict):
        raise PlistError("the property list's root must be a dictionary")
    problem = shape_problem(value, max_depth=MAX_DEPTH, max_elements=len(data))
    if problem is None and data.startswith(_BINARY):
        problem = _binary_only_problem(value, MAX_TEXT_EXPANSION * len(data))
    if problem:
        raise PlistError(f"property list {problem}")
    return value


def shape_problem(value: Any, *, max_depth: int, max_elements: int) -> str | None:
    """Why a decoded plist or JSON document is refused, or None: containers nested deeper than
    ``max_depth`` levels, or more than ``max_elements`` elements in all, counted once per path as any
    walk meets them. Without shared references every element costs its encoding at least a byte, so
    with the input's size as the budget only a binary plist whose arrays and dictionaries refer to one
    object many times over is refused (600 bytes can hold 10^10 paths); whatever passes, every later
    walk visits in time linear in the input. Iterative, and children are counted before they are
    stacked, so neither recursion nor the stack outgrows the budget."""
    if not isinstance(value, _CONTAINERS):
        return None
    elements = 1
    stack = [(value, 1)]
    while stack:
        container, depth = stack.pop()
        if depth > max_depth:
            return f"nested deeper than {max_depth} levels"
        children = container.values() if isinstance(container, dict) else container
        elements += len(children)
        if elements > max_elements:
            return (f"has more than {max_elements} elements, more than its bytes hold without "
                    "shared references")
        depth += 1
        stack += [(child, depth) for child in children if isinstance(child, _CONTAINERS)]
    return None


def _binary_only_problem(value: Any, max_text: int) -> str | None:
    """What only a binary plist holds, which no MDM body carries and nothing here can store or write again:
    a UID (a keyed archive's reference), a dictionary key that is not a string, or more than ``max_text``
    characters and bytes of text and data counted at each place they stand (one string shared by reference
    from many places). Walked once ``shape_problem`` has bounded the elements."""
    stack = [value]
    text = 0
    while stack:
        node = stack.pop()
        if isinstance(node, (str, bytes)):
            text += len(node)
        elif isinstance(node, plistlib.UID):
            return "holds a UID (a keyed archive's reference), which no MDM message carries"
        elif isinstance(node, dict):
            if not all(isinstance(key, str) for key in node):
                return "has a dictionary key that is not a string"
            text += sum(map(len, node))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        if text > max_text:
            return (f"holds more than {max_text} characters of text and data counted where each is referred to, "
                    f"{MAX_TEXT_EXPANSION} times its bytes: one value shared by reference from too many places")
    return None


def has_unstorable_text(text: str) -> bool:
    """True if ``text`` holds a character an XML plist (and, for NUL, PostgreSQL) cannot store."""
    return _NOT_PLIST_TEXT.search(text) is not None


def storable(value: Any) -> Any:
    """A decoded plist made storable as an XML plist and as JSON in any database: characters
    ``has_unstorable_text`` finds become U+FFFD (in keys too), integers past 64 bits and NaN or
    infinite floats become their text. A binary plist from a device can hold all of these; storing
    them raised. Recursive: decoded plists nest at most MAX_DEPTH levels."""
    if isinstance(value, str):
        return _NOT_PLIST_TEXT.sub("\ufffd", value)
    if isinstance(value, dict):
        return {storable(key): storable(child) for key, child in value.items()}
    if isinstance(value, list):
        return [storable(child) for child in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value not in _XML_INTEGERS or isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def dumps(value: Any) -> bytes:
    """Encode as an XML plist, the form Apple documents for MDM bodies."""
    return plistlib.dumps(value, fmt=plistlib.FMT_XML, sort_keys=True)
