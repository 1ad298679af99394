"""``plist_reader.read`` against ``plistlib.loads``: the same value from the same bytes, or both refuse."""
import datetime as dt
import plistlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdm_core import plist_reader

EXAMPLES = settings(max_examples=300, deadline=None, database=None)


def _outcome(read, data: bytes) -> tuple[str, str]:
    """What reading ``data`` gives, comparable across readers: the value's repr (NaN included), or "refused"."""
    try:
        return "value", repr(read(data))
    except Exception:  # noqa: BLE001 - each reader raises its own classes; loads maps every one to PlistError
        return "refused", ""


def _same(data: bytes) -> None:
    assert _outcome(plist_reader.read, data) == _outcome(plistlib.loads, data), data[:400]


_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff")
                .filter(lambda c: c in "\t\n\r" or c >= " "), max_size=30)
_scalars = st.one_of(_text, st.integers(-(2 ** 63), 2 ** 64 - 1), st.floats(), st.booleans(), st.binary(max_size=300),
                     st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 1, 1))
                     .map(lambda d: d.replace(microsecond=0)))
_values = st.recursive(_scalars, lambda children: st.one_of(st.lists(children, max_size=6),
                                                            st.dictionaries(_text, children, max_size=6)),
                       max_leaves=30)


@EXAMPLES
@given(_values)
def test_every_plist_plistlib_writes_reads_the_same(value):
    _same(plistlib.dumps(value, fmt=plistlib.FMT_XML))
    _same(plistlib.dumps(value, fmt=plistlib.FMT_XML, sort_keys=False).replace(b"\n", b"\r\n"))


#: Pieces of XML that are, and are not, a plist: plistlib's elements, unknown ones, text plistlib reads
#: or refuses, and what XML allows between them.
_PIECES = ["<dict>", "</dict>", "<array>", "</array>", "<key>", "</key>", "<string>", "</string>", "<integer>",
           "</integer>", "<real>", "</real>", "<data>", "</data>", "<date>", "</date>", "<true/>", "<false/>",
           "<true>", "</true>", "<dict/>", "<array/>", "<key/>", "<string/>", "<foo>", "</foo>", "<x:dict>",
           "</x:dict>", "k", " ", "\n\t", "0x1F", "-12", "1_000", "1e3", "nan", "AAEC\n\tAw==", "Zm9v!", "&amp;",
           "&#x41;", "<![CDATA[<dict>]]>", "<!-- c -->", "<?pi x?>", "2024-01-02T03:04:05Z", "2024-13-40T00:00:00Z",
           "\u00e9", "\U0001f600"]


@settings(max_examples=1000, deadline=None, database=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40), st.sampled_from(
    ['<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0">', "<plist>", "<?xml version='1.0'?>"]))
def test_any_arrangement_of_plist_pieces_reads_the_same_or_is_refused_by_both(pieces, start):
    _same((start + "".join(pieces) + "</plist>").encode())


@pytest.mark.parametrize("data", [
    b'<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY a "x">]><plist><string>&a;</string></plist>',
    b"<plist><dict><key>a</key></dict></plist>",  # a key without its value
    b"<plist><dict><string>a</string></dict></plist>",  # a value without its key
    b"<plist><key>a</key></plist>",  # a key outside any dictionary
    b"<plist><array><key>a</key><string>b</string></array></plist>",
    b"<plist><dict><key>a</key><key>b</key><string>c</string></dict></plist>",
    b"<plist><dict></array></plist>",  # not XML
    b"<plist><integer>99999999999999999999999999999999999999999999999999999999999999999999999</integer></plist>",
    b"<plist><integer>" + b"9" * 5000 + b"</integer></plist>",  # past Python's digit limit
    b"<plist><data>not base64!</data></plist>",
    b"<plist><date>2024-01-02T03:04:05Z</date></plist>",
    b"<plist><string>one</string><string>two</string></plist>",  # the last root wins, in both
    b"<plist/>",
    "\ufeff<plist><string>bom</string></plist>".encode("utf-8"),
    "<?xml version='1.0' encoding='UTF-16'?><plist><string>x</string></plist>".encode("utf-16"),
    plistlib.dumps({"binary": [1, 2.5, b"x"]}, fmt=plistlib.FMT_BINARY),
    b"bplist00\xff\xff",
    b"",
    b"garbage",
])
def test_hostile_and_unusual_documents_read_the_same_or_are_refused_by_both(data):
    _same(data)


def test_an_entity_declaration_is_refused_before_any_expansion():
    laughs = (b'<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY a "' + b"x" * 100 + b'">'
              + b"".join(b'<!ENTITY a%d "&a%s;&a%s;">' % (i, b"" if i == 1 else b"%d" % (i - 1),
                                                           b"" if i == 1 else b"%d" % (i - 1)) for i in range(1, 40))
              + b"]><plist><string>&a39;</string></plist>")
    with pytest.raises(plistlib.InvalidFileException):
        plist_reader.read(laughs)


def test_a_check_in_s_base64_data_arrives_in_one_piece():
    """Why the reader exists: an element's text comes in one callback, not one per line."""
    body = plistlib.dumps({"Data": bytes(range(256)) * 14, "MessageType": "DeclarativeManagement"})
    pieces = []

    class Counting(plist_reader._Reader):
        def characters(self, text: str) -> None:
            pieces.append(text)
            super().characters(text)

    reader = Counting()
    plist_reader._parser(reader).Parse(body, True)
    assert reader.root == plistlib.loads(body)
    assert body.count(b"\n") > 50 and len(pieces) < 20
