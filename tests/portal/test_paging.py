"""Page size and cursor of the device, audit and migration lists, read by one parser (portal/paging.py)."""
import pytest

from portal.paging import MAX_PAGE_SIZE, id_cursor, page_limit

LISTS = ("/devices", "/audit", "/migration")


class Refused(ValueError):
    pass


@pytest.mark.parametrize("args, expected", [({}, 25), ({"limit": ""}, 25), ({"limit": "1"}, 1),
                                            ({"limit": str(MAX_PAGE_SIZE)}, MAX_PAGE_SIZE)])
def test_limit_defaults_when_absent_and_takes_whole_numbers_in_range(args, expected):
    assert page_limit(args, 25, Refused) == expected


@pytest.mark.parametrize("text, message", [
    ("abc", "limit must be a whole number"), ("\u00b2", "limit must be a whole number"),
    (" 7", "limit must be a whole number"), ("9" * 5000, "limit must be a whole number"),
    ("0", f"limit must be between 1 and {MAX_PAGE_SIZE}"), ("-5", f"limit must be between 1 and {MAX_PAGE_SIZE}"),
    (str(MAX_PAGE_SIZE + 1), f"limit must be between 1 and {MAX_PAGE_SIZE}")])
def test_limit_refusals_raise_the_callers_error_naming_the_parameter(text, message):
    with pytest.raises(Refused, match=f"^{message}$"):
        page_limit({"limit": text}, 25, Refused)


def test_id_cursor_is_absent_or_an_id():
    assert id_cursor({}, Refused) is None and id_cursor({"cursor": ""}, Refused) is None
    assert id_cursor({"cursor": "0"}, Refused) == 0 and id_cursor({"cursor": "42"}, Refused) == 42
    for bad in ("-1", "x", "\u00b2", "9" * 30):
        with pytest.raises(Refused, match="^cursor must be the 'next' value of a previous page$"):
            id_cursor({"cursor": bad}, Refused)


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("query, message", [("limit=many", "limit must be a whole number"),
                                            ("limit=0", "limit must be between 1 and 500"),
                                            ("limit=501", "limit must be between 1 and 500")])
def test_every_list_refuses_a_bad_limit_with_400_and_the_same_message(api, path, query, message):
    response = api("GET", f"{path}?{query}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
