"""A small, strict DER reader, with the two BER liberties CMS producers take.

CMS verification runs on every MDM request, and asn1crypto's object model costs more than
the signature check itself, so :mod:`mdm_core.cms` walks the few fields it needs with these
functions. Elements are addressed by offsets into one ``bytes`` object; only the values
asked for are copied out.

Strict: one-byte tags only, definite lengths in their minimal encoding, every element inside
its parent's bounds. The exceptions are BER's indefinite length on constructed elements
(``30 80 ... 00 00``), which Apple devices put on the outer SignedData layers of their
signatures, and the constructed OCTET STRING that ``openssl cms -stream`` writes.
"""
from __future__ import annotations

from collections.abc import Iterator

SEQUENCE = 0x30
SET = 0x31
INTEGER = 0x02
OCTET_STRING = 0x04
OID = 0x06
CONSTRUCTED = 0x20

_INDEFINITE = -1
_MAX_LENGTH_OCTETS = 4


class DERError(ValueError):
    """The bytes are not well-formed DER (or the BER this reader accepts); the message says where."""


def _header(data: bytes, offset: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content length or ``_INDEFINITE``) of the element at ``offset``."""
    if offset + 2 > end:
        raise DERError(f"truncated element header at offset {offset}")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DERError(f"multi-byte tag at offset {offset}")
    first = data[offset + 1]
    if first < 0x80:
        return tag, offset + 2, first
    if first == 0x80:
        if not tag & CONSTRUCTED:
            raise DERError(f"indefinite length on a primitive element at offset {offset}")
        return tag, offset + 2, _INDEFINITE
    count = first & 0x7F
    if count > _MAX_LENGTH_OCTETS:
        raise DERError(f"length of {count} octets at offset {offset}")
    start = offset + 2 + count
    if start > end:
        raise DERError(f"truncated length at offset {offset}")
    length = int.from_bytes(data[offset + 2 : start], "big")
    if data[offset + 2] == 0 or length < 0x80:
        raise DERError(f"length not minimally encoded at offset {offset}")
    return tag, start, length


def _end_of_contents(data: bytes, start: int, end: int) -> int:
    """Offset of the end-of-contents marker closing the indefinite element starting at ``start``."""
    offset = start
    open_elements = 1
    while True:
        if offset + 2 <= end and data[offset] == 0 and data[offset + 1] == 0:
            open_elements -= 1
            if open_elements == 0:
                return offset
            offset += 2
            continue
        _, content, length = _header(data, offset, end)
        if length == _INDEFINITE:
            open_elements += 1
            offset = content
        else:
            offset = content + length
            if offset > end:
                raise DERError(f"element at offset {content} runs past its parent")


def read(data: bytes, offset: int, end: int) -> tuple[int, int, int, int]:
    """Read the element at ``offset`` that must end by ``end``.

    Returns ``(tag, content start, content end, offset after the element)``.
    """
    if offset + 2 <= end and data[offset + 1] < 0x80 and data[offset] & 0x1F != 0x1F:
        # Short definite length, the common case, without the call to _header.
        start = offset + 2
        stop = start + data[offset + 1]
        if stop > end:
            raise DERError(f"element at offset {offset} declares {stop - start} octets, only {end - start} remain")
        return data[offset], start, stop, stop
    tag, start, length = _header(data, offset, end)
    if length == _INDEFINITE:
        stop = _end_of_contents(data, start, end)
        return tag, start, stop, stop + 2
    stop = start + length
    if stop > end:
        raise DERError(f"element at offset {offset} declares {length} octets, only {end - start} remain")
    return tag, start, stop, stop


def expect(data: bytes, offset: int, end: int, tag: int, what: str) -> tuple[int, int, int]:
    """Like :func:`read` for an element that must carry ``tag``: ``(start, content end, next)``."""
    if offset + 2 <= end and data[offset] == tag and data[offset + 1] < 0x80:
        # Short definite length, the common case, without the call to read.
        start = offset + 2
        stop = start + data[offset + 1]
        if stop <= end:
            return start, stop, stop
    found, start, stop, after = read(data, offset, end)
    if found != tag:
        raise DERError(f"expected {what} (tag 0x{tag:02x}) at offset {offset}, found tag 0x{found:02x}")
    return start, stop, after


def children(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """Each element in the content ``data[start:end]``: ``(tag, offset, content start, content end, next)``.

    The element's own encoding is ``data[offset:next]``.
    """
    offset = start
    while offset < end:
        tag, content, stop, after = read(data, offset, end)
        yield tag, offset, content, stop, after
        offset = after


def octet_string(data: bytes, offset: int, end: int, what: str) -> tuple[bytes, int]:
    """``(value, next offset)`` of an OCTET STRING.

    BER's constructed form (as OpenSSL streams it: primitive segments inside ``24 80``) is
    joined; segments that are themselves constructed are refused.
    """
    tag, start, stop, after = read(data, offset, end)
    if tag == OCTET_STRING:
        return data[start:stop], after
    if tag != OCTET_STRING | CONSTRUCTED:
        raise DERError(f"expected {what} (OCTET STRING) at offset {offset}, found tag 0x{tag:02x}")
    segments = []
    for segment_tag, _, segment_start, segment_stop, _ in children(data, start, stop):
        if segment_tag != OCTET_STRING:
            raise DERError(f"{what} at offset {offset} has a segment with tag 0x{segment_tag:02x}")
        segments.append(data[segment_start:segment_stop])
    return b"".join(segments), after


def integer(data: bytes, start: int, end: int) -> int:
    """The value of an INTEGER whose content is ``data[start:end]``."""
    if start == end:
        raise DERError(f"empty INTEGER at offset {start}")
    if end - start > 1 and (
        (data[start] == 0 and data[start + 1] < 0x80) or (data[start] == 0xFF and data[start + 1] >= 0x80)
    ):
        raise DERError(f"INTEGER not minimally encoded at offset {start}")
    return int.from_bytes(data[start:end], "big", signed=True)


def dotted(content: bytes) -> str:
    """The dotted form of an OBJECT IDENTIFIER's content octets, e.g. ``1.2.840.113549``."""
    arcs: list[int] = []
    value = 0
    for position, octet in enumerate(content):
        if value == 0 and octet == 0x80:
            raise DERError(f"OBJECT IDENTIFIER arc not minimally encoded at octet {position}")
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            arcs.append(value)
            value = 0
    if not arcs or content[-1] & 0x80:
        raise DERError("truncated OBJECT IDENTIFIER")
    first = min(arcs[0] // 40, 2)
    return ".".join(map(str, [first, arcs[0] - 40 * first, *arcs[1:]]))
