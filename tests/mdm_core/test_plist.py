import plistlib
import time

import pytest

from mdm_core import plist
from tests.plist_bombs import path_bomb


def _nested(depth: int) -> dict:
    value: object = "leaf"
    for _ in range(depth):
        value = {"k": [value]}
    return value


def test_ordinary_nesting_is_accepted():
    assert plist.loads(plistlib.dumps(_nested(10)))["k"][0]["k"]


@pytest.mark.parametrize("fmt", [plistlib.FMT_XML, plistlib.FMT_BINARY])
def test_hostile_nesting_is_refused_with_a_clear_error(fmt):
    body = plistlib.dumps(_nested(60), fmt=fmt)
    with pytest.raises(plist.PlistError, match="nested deeper"):
        plist.loads(body)


@pytest.mark.parametrize("body", [b"", b"garbage", b"bplist00\xff\xff", plistlib.dumps([1, 2])])
def test_what_is_not_a_dictionary_plist_is_refused(body):
    with pytest.raises(plist.PlistError):
        plist.loads(body)


def test_oversized_body_is_refused():
    with pytest.raises(plist.PlistError, match="larger than"):
        plist.loads(b"x" * 11, max_bytes=10)


def test_a_binary_plist_of_shared_references_is_refused_without_walking_its_paths():
    body = path_bomb({"Status": "Idle"})
    assert len(body) < 1000  # 10^10 paths
    started = time.process_time()
    with pytest.raises(plist.PlistError, match=f"more than {len(body)} elements, more than its bytes hold"):
        plist.loads(body)
    assert time.process_time() - started < 2


def test_a_few_shared_references_more_than_the_bytes_hold_are_refused():
    body = path_bomb({"Status": "Idle"}, levels=3, fanout=20)  # 8,000 paths in a few hundred bytes
    with pytest.raises(plist.PlistError, match="more than its bytes hold"):
        plist.loads(body)


def test_shared_strings_as_apples_writer_makes_them_are_accepted():
    body = plistlib.dumps({"Names": ["the same name"] * 5000}, fmt=plistlib.FMT_BINARY)  # one string, 5000 refs
    assert len(plist.loads(body)["Names"]) == 5000


def test_the_walk_stops_at_its_element_budget():
    """A value sharing its lists (as the binary parser builds it) is refused after at most the budget."""
    visits = 0

    class CountedList(list):
        def __iter__(self):
            nonlocal visits
            for item in super().__iter__():
                visits += 1
                yield item

    value: object = "leaf"
    for _ in range(8):
        value = CountedList([value] * 100)
    problem = plist.shape_problem({"k": value}, max_depth=plist.MAX_DEPTH, max_elements=1000)
    assert problem == "has more than 1000 elements, more than its bytes hold without shared references"
    assert visits <= 1000


def test_storable_replaces_what_an_xml_plist_cannot_hold_in_keys_and_values():
    value = {"a\x00": ["\x01ok\t\n", "\uffff", 2 ** 70, -(2 ** 64), float("nan"), float("-inf"), 1.5, True, b"\x00"]}
    stored = plist.storable(value)
    assert stored == {"a\ufffd": ["\ufffdok\t\n", "\ufffd", str(2 ** 70), str(-(2 ** 64)), "nan", "-inf", 1.5, True,
                                  b"\x00"]}
    assert plist.loads(plist.dumps(stored)) == stored


def test_unstorable_text_is_the_xml_plist_controls_and_non_characters():
    assert plist.has_unstorable_text("a\x00b") and plist.has_unstorable_text("\x1f") and plist.has_unstorable_text("\ufffe")
    assert not plist.has_unstorable_text("tab\tnew line\n\u202e\U0001f600\ufdd0")


def test_unstorable_text_includes_unpaired_surrogates():
    """JSON can carry them and UTF-8 cannot encode them: writing them as an XML plist raised UnicodeEncodeError."""
    assert plist.has_unstorable_text("\ud800") and plist.has_unstorable_text("a\udfffb")
    assert plist.storable({"\ud800": ["\udc00"]}) == {"\ufffd": ["\ufffd"]}


@pytest.mark.parametrize("value", [{"Status": "Idle", "Note": plistlib.UID(1)}, {"Status": "Idle", "List": [[plistlib.UID(7)]]}],
                         ids=["uid", "nested-uid"])
def test_a_binary_plist_holding_a_uid_is_refused(value):
    """plistlib reads a keyed archive's UIDs; nothing writes them again (an inventory answer holding one was a 500)."""
    with pytest.raises(plist.PlistError, match="UID"):
        plist.loads(plistlib.dumps(value, fmt=plistlib.FMT_BINARY))


def test_a_binary_plist_with_a_key_that_is_not_a_string_is_refused():
    """Binary plists allow keys of any type; sorting them with the others to write XML was a TypeError, a 500."""
    body = bytearray(plistlib.dumps({"Status": "Idle", "Inner": [{"Q": "x"}]}, fmt=plistlib.FMT_BINARY))
    at = body.index(b"\x51Q")  # the one-letter ASCII key "Q"...
    body[at] = 0x10  # ...made the one-byte integer 81
    with pytest.raises(plist.PlistError, match="key that is not a string"):
        plist.loads(bytes(body))


def test_text_a_binary_plist_shares_past_what_its_bytes_hold_is_refused():
    """A binary plist writes a string once and refers to it from any number of places for a few bytes each: 100 KB
    referred to 1,000 times decoded as 100 MB of text wherever it was written again (an error chain's JSON, a
    stored result), from a body of 100 KB."""
    body = plistlib.dumps({"Names": ["x" * 100_000] * 1000}, fmt=plistlib.FMT_BINARY)
    assert len(body) < 110_000
    with pytest.raises(plist.PlistError, match="text and data"):
        plist.loads(body)
