import plistlib

import pytest

from mdm_core import plist


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
