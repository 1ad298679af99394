"""Ids and whole numbers from untrusted text and JSON (portal/ids.py)."""
import pytest

from portal.ids import MAX_ID, json_id, json_ids, parse_id, parse_int


@pytest.mark.parametrize("text, expected", [
    ("1", 1), ("42", 42), (str(MAX_ID), MAX_ID), ("0", None), (str(MAX_ID + 1), None), ("\u00b2", None),
    ("\u0661", None), (" 7", None), ("1_000", None), ("-3", None), ("", None), (None, None), (7, None), ("9" * 5000, None),
])
def test_parse_id_takes_only_ascii_digits_of_an_id_a_database_holds(text, expected):
    assert parse_id(text) == expected


def test_parse_int_allows_a_sign_only_when_negatives_are_in_range():
    assert parse_int("-5", minimum=-10, maximum=10) == -5
    assert parse_int("-5", minimum=0, maximum=10) is None
    assert parse_int("-", minimum=-10, maximum=10) is None
    assert parse_int("11", minimum=0, maximum=10) is None


def test_json_ids_refuse_the_whole_list_for_one_bad_element():
    assert json_ids([1, 2, MAX_ID]) == [1, 2, MAX_ID]
    for bad in ([1, 2**63], [1, 0], [1, True], [1, "2"], [1, 1.0], "1", None):
        assert json_ids(bad) is None, bad
    assert json_id(False) is None and json_id(3) == 3
