import time

import pytest
from asn1crypto import core, parser

from mdm_core import der


def tlv(tag: int, content: bytes) -> bytes:
    """Minimal DER encoding of one element, to build inputs by hand."""
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + content


def test_short_and_long_lengths_are_read_with_their_bounds():
    short = tlv(der.OCTET_STRING, b"abc")
    assert der.read(short, 0, len(short)) == (der.OCTET_STRING, 2, 5, 5)
    long = tlv(der.OCTET_STRING, b"x" * 300)
    assert der.read(long, 0, len(long)) == (der.OCTET_STRING, 4, 304, 304)


def test_children_give_each_element_and_its_encoding():
    first, second = tlv(der.INTEGER, b"\x05"), tlv(der.OID, b"\x2a\x03")
    data = tlv(der.SEQUENCE, first + second)
    elements = list(der.children(data, 2, len(data)))
    assert [(tag, data[offset:after]) for tag, offset, _, _, after in elements] == [
        (der.INTEGER, first),
        (der.OID, second),
    ]


def test_indefinite_length_ends_at_its_end_of_contents_marker():
    inner = tlv(der.INTEGER, b"\x01")
    data = b"\x30\x80" + b"\x30\x80" + inner + b"\x00\x00" + inner + b"\x00\x00" + b"trailing"
    tag, start, stop, after = der.read(data, 0, len(data))
    assert (tag, data[start:stop], after) == (der.SEQUENCE, b"\x30\x80" + inner + b"\x00\x00" + inner, len(data) - 8)


def test_constructed_octet_string_segments_are_joined():
    data = b"\x24\x80" + tlv(der.OCTET_STRING, b"hello ") + tlv(der.OCTET_STRING, b"world") + b"\x00\x00"
    assert der.octet_string(data, 0, len(data), "content") == (b"hello world", len(data))


def test_nested_constructed_octet_string_segments_are_refused():
    data = b"\x24\x80\x24\x80" + tlv(der.OCTET_STRING, b"x") + b"\x00\x00\x00\x00"
    with pytest.raises(der.DERError, match="segment"):
        der.octet_string(data, 0, len(data), "content")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x04", "truncated element header"),
        (b"\x04\x05abc", "declares 5 octets, only 3 remain"),
        (b"\x04\x81\x05abcde", "not minimally encoded"),
        (b"\x04\x82\x00\x80" + b"x" * 128, "not minimally encoded"),
        (b"\x04\x85\x01\x00\x00\x00\x00", "length of 5 octets"),
        (b"\x04\x84\x7f\xff\xff\xff", "declares 2147483647 octets"),
        (b"\x04\x82\x01", "truncated length"),
        (b"\x1f\x21\x01\x00", "multi-byte tag"),
        (b"\x04\x80abc\x00\x00", "indefinite length on a primitive"),
        (b"\x30\x80\x02\x01\x01", "truncated element header"),
        (b"\x30\x80\x30\x05\x00\x00", "runs past its parent"),
    ],
)
def test_malformed_encodings_are_refused_with_the_reason(data, message):
    with pytest.raises(der.DERError, match=message):
        der.read(data, 0, len(data))


def test_element_may_not_run_past_its_parent():
    data = tlv(der.SEQUENCE, b"\x04\x03ab") + b"c"
    with pytest.raises(der.DERError, match="only 2 remain"):
        list(der.children(data, 2, 6))


def test_expect_names_what_it_wanted():
    data = tlv(der.SET, b"")
    with pytest.raises(der.DERError, match="expected digestAlgorithms"):
        der.expect(data, 0, len(data), der.SEQUENCE, "digestAlgorithms")


def test_deep_indefinite_nesting_is_read_without_recursion_and_fast():
    depth = 200_000
    balanced = b"\x30\x80" * depth + b"\x00\x00" * depth
    started = time.process_time()
    assert der.read(balanced, 0, len(balanced))[3] == len(balanced)
    with pytest.raises(der.DERError):
        der.read(balanced[:-2], 0, len(balanced) - 2)
    assert time.process_time() - started < 2


@pytest.mark.parametrize("value", [0, 1, 127, 128, 255, 256, -1, -128, -129, 2**64 + 3, -(2**70)])
def test_integers_match_asn1crypto(value):
    encoded = core.Integer(value).dump()
    _, start, stop, _ = der.read(encoded, 0, len(encoded))
    assert der.integer(encoded, start, stop) == value


@pytest.mark.parametrize("content", [b"", b"\x00\x7f", b"\xff\x80"])
def test_empty_or_padded_integers_are_refused(content):
    with pytest.raises(der.DERError, match="INTEGER"):
        der.integer(content, 0, len(content))


@pytest.mark.parametrize(
    "dotted", ["1.2.840.113549.1.9.4", "2.16.840.1.113733.1.9.2", "0.9.2342", "2.999.1", "1.3.14.3.2.26"]
)
def test_object_identifiers_read_like_asn1crypto(dotted):
    assert der.dotted(core.ObjectIdentifier(dotted).contents) == dotted


@pytest.mark.parametrize("content", [b"", b"\x2a\x86", b"\x2a\x80\x01"])
def test_truncated_or_padded_object_identifiers_are_refused(content):
    with pytest.raises(der.DERError, match="OBJECT IDENTIFIER"):
        der.dotted(content)


def _walk_like_asn1crypto(data: bytes, start: int, end: int) -> list:
    """The element tree as (tag, content or subtree), read with der."""
    tree = []
    for tag, _, content, stop, _ in der.children(data, start, end):
        tree.append((tag, _walk_like_asn1crypto(data, content, stop) if tag & der.CONSTRUCTED else data[content:stop]))
    return tree


def _walk_with_asn1crypto(data: bytes) -> list:
    tree = []
    offset = 0
    while offset < len(data):
        class_, method, tag, header, contents, trailer = parser.parse(data[offset:], strict=False)
        identifier = header[0]
        tree.append((identifier, _walk_with_asn1crypto(contents) if method else contents))
        offset += len(header) + len(contents) + len(trailer)
    return tree


def test_element_tree_matches_asn1crypto_for_der_and_ber():
    leaf = tlv(der.OCTET_STRING, b"y" * 200) + tlv(der.INTEGER, b"\x01")
    definite = tlv(der.SEQUENCE, tlv(der.SET, leaf) + tlv(0xA0, leaf) + leaf)
    indefinite = b"\x30\x80" + tlv(der.SET, leaf) + b"\xa0\x80" + leaf + b"\x00\x00" + leaf + b"\x00\x00"
    for data in (definite, indefinite):
        assert _walk_like_asn1crypto(data, 0, len(data)) == _walk_with_asn1crypto(data)
