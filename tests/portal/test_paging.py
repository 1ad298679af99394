"""Page size and cursor of the API's lists, read by one parser (portal/paging.py), and the `next` each hands out."""
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


def test_every_list_paged_by_id_hands_out_next_until_its_last_page(app, api, seed):
    from portal.desired_state import memberships_synced
    from portal.extensions import db
    from portal.models import EndUser
    from tests.helpers import PROFILE_CORPUS

    seed(2)
    with app.app_context():
        for number in (1, 2):
            person = EndUser(issuer="https://idp.example.org", subject=f"p{number}",
                             managed_apple_id=f"p{number}@example.org")
            db.session.add(person)
            db.session.flush()
            memberships_synced(db.session, person, [f"group-{number}"])
        db.session.commit()
    everyone = {"all_user_enrolled": True}
    apps = [api("POST", "/apps", json={"manifest_url": f"https://apps.example.org/{n}.plist"}).json["id"]
            for n in (1, 2)]
    profile = api("POST", "/profiles", data=(PROFILE_CORPUS / "caldav.mobileconfig").read_bytes()).json["id"]
    declaration = api("POST", "/declarations", json={"type": "com.apple.configuration.passcode.settings",
                                                     "payload": {"MinimumLength": 6}}).json["id"]
    for path in (f"/apps/{apps[0]}/scope", f"/profiles/{profile}/scope", f"/declarations/{declaration}/scope"):
        assert api("PUT", path, json=everyone).json["devices_added"] == 2, path
    lists = {"/apps": "apps", "/groups": "groups", f"/apps/{apps[0]}/status": "devices",
             f"/profiles/{profile}/status": "devices", f"/declarations/{declaration}/status": "devices"}
    for path, key in lists.items():
        first = api("GET", f"{path}?limit=1").json
        assert len(first[key]) == 1 and first["next"], path
        rest = api("GET", f"{path}?limit=1&cursor={first['next']}").json
        assert len(rest[key]) == 1 and rest[key] != first[key] and rest["next"] is None, path
