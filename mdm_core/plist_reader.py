"""An XML property-list reader on expat with its text buffered: plistlib's, minus a callback per line.

``plistlib`` asks expat for every run of character data as it comes, and expat hands it over line by
line: the Base64 ``Data`` of a DDM status report (3.5 KB, 55 lines) cost 170 Python callbacks, half of
the time to read the check-in. This reader sets ``buffer_text``, so each element's text arrives in one
piece, and builds the same values ``plistlib`` builds from the same bytes, by the same rules (text
gathered since the last start tag, unknown elements skipped, the same structural errors). What it
leaves to ``plistlib`` is rare in MDM bodies: a ``<date>`` (read again by ``plistlib`` whole), and any
document that does not begin ``<?xml`` or ``<plist`` (binary plists, UTF-16 and UTF-32 text).
``tests/mdm_core/test_plist_reader.py`` compares the two on generated and hostile documents.
"""
from __future__ import annotations

import binascii
import plistlib
from typing import Any
from xml.parsers.expat import ParserCreate, XMLParserType

#: The starts plistlib reads as an XML plist without a byte-order mark (UTF-8 or a declared encoding).
_XML_STARTS = (b"<?xml", b"<plist")


class _DateFound(Exception):
    """A ``<date>``: plistlib reads the document instead (how it reads dates is its own)."""


def _entity_declared(*_args: Any) -> None:
    # As plistlib: an entity declaration is refused, so entity expansion (billion laughs) never starts.
    raise plistlib.InvalidFileException("XML entity declarations are not supported in plist files")


class _Reader:
    __slots__ = ("stack", "key", "root", "text")

    def __init__(self) -> None:
        self.stack: list[dict | list] = []
        self.key: str | None = None
        self.root: Any = None
        self.text: list[str] = []

    def characters(self, text: str) -> None:
        self.text.append(text)

    def begin(self, name: str, _attributes: dict) -> None:
        self.text = []
        if name == "dict" or name == "array":
            container: dict | list = {} if name == "dict" else []
            self.add(container)
            self.stack.append(container)

    def end(self, name: str) -> None:
        if name == "key":
            if self.key or self.stack[-1].__class__ is not dict:
                raise ValueError("unexpected key")
            self.key = self.take()
        elif name == "string":
            self.add(self.take())
        elif name == "data":
            self.add(binascii.a2b_base64(self.take().encode("utf-8")))
        elif name == "dict":
            if self.key:
                raise ValueError(f"missing value for key {self.key[:64]!r}")
            self.stack.pop()
        elif name == "array":
            self.stack.pop()
        elif name == "integer":
            raw = self.take()
            self.add(int(raw, 16) if raw.startswith(("0x", "0X")) else int(raw))
        elif name == "true" or name == "false":
            self.add(name == "true")
        elif name == "real":
            self.add(float(self.take()))
        elif name == "date":
            raise _DateFound

    def take(self) -> str:
        text = "".join(self.text)
        self.text = []
        return text

    def add(self, value: Any) -> None:
        if self.key is not None:
            if self.stack[-1].__class__ is not dict:
                raise ValueError("a value after a key outside a dictionary")
            self.stack[-1][self.key] = value
            self.key = None
        elif not self.stack:
            self.root = value
        elif self.stack[-1].__class__ is not list:
            raise ValueError("a value without a key in a dictionary")
        else:
            self.stack[-1].append(value)


def _parser(reader: _Reader) -> XMLParserType:
    parser = ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = reader.begin
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.characters
    parser.EntityDeclHandler = _entity_declared
    return parser


def read(data: bytes) -> Any:
    """What ``plistlib.loads(data)`` returns, raising where it raises (not always the same exception)."""
    if not data.startswith(_XML_STARTS):
        return plistlib.loads(data)
    reader = _Reader()
    try:
        _parser(reader).Parse(data, True)
    except _DateFound:
        return plistlib.loads(data)
    return reader.root
