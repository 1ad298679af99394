"""Input shaped to break a layer below the rules: values nested past what the plist writer can recurse,
dates past the ends of the calendar, NUL characters PostgreSQL refuses. Each gets a clear 4xx and
changes nothing."""
import base64
import json

import pytest

from mdm_core.plist import MAX_DEPTH
from tests.helpers import command_count


def test_a_free_form_command_key_nested_past_the_plist_depth_limit_gets_422(app, api, seed):
    [device] = seed(1)
    configuration: dict = {}
    for _ in range(MAX_DEPTH + 8):
        configuration = {"Next": configuration}
    response = api("POST", f"/devices/{device}/commands", json={"request_type": "InstallApplication",
                                                                 "iTunesStoreID": 1, "Configuration": configuration})
    assert response.status_code == 422, response.data
    assert response.json["error"] == "command_not_allowed"
    assert "Configuration" in json.dumps(response.json["detail"])
    assert command_count(app) == 0


def test_a_device_cursor_nested_past_the_recursion_limit_is_a_bad_cursor(api):
    cursor = base64.urlsafe_b64encode(b"[" * 5000).decode()
    response = api("GET", f"/devices?cursor={cursor}")
    assert response.status_code == 400, response.data
    assert "cursor" in response.json["detail"]


def _cursor(*parts) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


@pytest.mark.parametrize("path", [
    "/audit?until=9999-12-31T23:59:59-01:00", "/audit?since=0001-01-01T00:00:00%2B01:00",
    f"/devices?sort=last_seen_at&cursor={_cursor('last_seen_at', False, '0001-01-01T00:00:00+01:00', 1)}",
    f"/devices?sort=-last_seen_at&cursor={_cursor('last_seen_at', True, '9999-12-31T23:59:59-01:00', 1)}",
])
def test_times_an_offset_pushes_past_the_calendar_get_400(api, path):
    response = api("GET", path)
    assert response.status_code == 400, response.data
    assert response.json["error"] == "bad_request"


def test_the_audit_page_explains_a_time_past_the_calendar(admin_client):
    response = admin_client.get("/admin/audit?since=0001-01-01T00:00:00%2B01:00")
    assert response.status_code == 200
    assert "outside the years 1 to 9999" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/devices?q=%00", "/devices?managed_apple_id=a%00b", "/audit?actor=%00",
                                  "/audit?target_id=1%00", "/migration?user=%00"])
def test_a_nul_character_in_a_text_filter_gets_400(api, path):
    response = api("GET", path)
    assert response.status_code == 400, response.data
    assert response.json["error"] == "bad_request" and "NUL" in response.json["detail"]


def test_a_nul_character_in_a_device_cursor_gets_400(api):
    cursor = _cursor("managed_apple_id", False, "a\u0000", 1)
    response = api("GET", f"/devices?sort=managed_apple_id&cursor={cursor}")
    assert response.status_code == 400, response.data
    assert "cursor" in response.json["detail"]


@pytest.mark.parametrize("search", [{"q": "\u0000"}, {"managed_apple_id": "\ud800@example.org"}])
def test_a_bulk_search_the_database_cannot_compare_gets_400(app, api, seed, search):
    seed(2)
    response = api("POST", "/commands/bulk", json={"request_type": "ProfileList", "search": search})
    assert response.status_code == 400, response.data
    assert command_count(app) == 0


@pytest.mark.parametrize("path", ["/admin/devices?q=%00", "/admin/audit?actor=%00", "/admin/migration?user=%00"])
def test_console_pages_explain_a_nul_character_in_a_filter(admin_client, path):
    response = admin_client.get(path)
    assert response.status_code == 200
    assert "must not contain a NUL character" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/api/v1/commands/A%00B", "/api/v1/commands/bulk/a%00b", "/admin/bulk/a%00b"])
def test_a_nul_character_in_a_command_or_bulk_id_gets_404(api_token, admin_client, path):
    """The command UUID and the bulk id in these paths were compared in SQL as given: on PostgreSQL a NUL was a
    psycopg DataError, a 500. No id holds one, so nothing is found."""
    response = admin_client.get(path, headers={"Authorization": f"Bearer {api_token('reader')}"})
    assert response.status_code == 404, response.data
