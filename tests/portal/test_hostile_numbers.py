"""Numbers an attacker or a typo can send: Unicode digits ("²" passes str.isdigit, int() refuses it) and
integers past what a database column or a plist holds. Each gets a clear 4xx and changes nothing."""
import base64
import json

import pytest

from tests.helpers import command_count, csrf_token_from

HUGE = 10**23


def _post(admin_client, path, data, page):
    token = csrf_token_from(admin_client.get(page).get_data(as_text=True))
    return admin_client.post(path, data={"csrf_token": token, **data}, content_type="multipart/form-data")


def _cursor(*parts) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


@pytest.mark.parametrize("path", [
    "/devices?seen_within_days=%C2%B2", "/devices?not_seen_for_days=%C2%B2", "/audit?cursor=%C2%B2",
    "/migration?cursor=%C2%B2", "/audit?cursor=99999999999999999999999", "/migration?cursor=99999999999999999999999",
    "/migration?cursor=-5", f"/devices?cursor={_cursor('id', False, None, HUGE)}",
    f"/devices?sort=last_seen_at&cursor={_cursor('last_seen_at', False, '2020-01-01T00:00:00', 1)}",
])
def test_bad_numbers_in_list_queries_get_400(api, path):
    response = api("GET", path)
    assert response.status_code == 400, path
    assert response.json["error"] == "bad_request"


@pytest.mark.parametrize("path", [f"/api/v1/devices/{HUGE}", f"/admin/devices/{HUGE}", f"/admin/migration/{HUGE}",
                                  "/api/v1/devices/%D9%A1", "/api/v1/devices/0"])
def test_ids_no_database_holds_are_not_found(admin_client, api_token, path):
    response = admin_client.get(path, headers={"Authorization": f"Bearer {api_token('reader')}"})
    assert response.status_code == 404, path


@pytest.mark.parametrize("ids", [[10**30], [2**63], [0], [-1], [True]])
def test_bulk_and_unenroll_refuse_ids_out_of_range(app, api, seed, ids):
    [device] = seed(1, enrollment_type="device")
    assert api("POST", "/commands/bulk", json={"request_type": "ProfileList", "device_ids": [device, *ids]}).status_code == 400
    assert api("POST", "/migration/unenroll", json={"device_ids": [device, *ids]}).status_code == 400
    assert command_count(app) == 0


def test_api_command_integer_past_64_bits_is_a_422_problem(app, api, seed):
    [device] = seed(1)
    response = api("POST", f"/devices/{device}/commands", json={"request_type": "InstallApplication",
                                                                 "iTunesStoreID": 10**30})
    assert response.status_code == 422
    assert "iTunesStoreID" in json.dumps(response.json["detail"])
    assert command_count(app) == 0


@pytest.mark.parametrize("store_id", ["\u00b2", "9" * 30, "0"])
def test_admin_install_application_refuses_store_ids_that_are_not_ids(app, admin_client, seed, store_id):
    [device] = seed(1)
    page = f"/admin/devices/{device}"
    response = _post(admin_client, f"{page}/commands", {"request_type": "InstallApplication", "iTunesStoreID": store_id},
                     page)
    assert response.status_code == 303
    assert "iTunesStoreID must be" in admin_client.get(page).get_data(as_text=True)
    assert command_count(app) == 0


def test_admin_bulk_and_migration_ignore_ids_that_are_not_ids(app, admin_client, seed):
    [device] = seed(1, enrollment_type="device")
    hostile = ["\u00b2", str(10**30), "0"]
    response = _post(admin_client, "/admin/devices/bulk",
                     {"request_type": "ProfileList", "scope": "selected", "device_id": hostile}, "/admin/devices")
    assert response.status_code == 303 and "/admin/bulk/" not in response.location
    response = _post(admin_client, "/admin/migration/devices", {"action": "unenroll", "device_id": hostile},
                     "/admin/migration")
    assert response.status_code == 303 and "/admin/bulk/" not in response.location
    assert command_count(app) == 0
    response = _post(admin_client, "/admin/devices/bulk",
                     {"request_type": "ProfileList", "scope": "selected", "device_id": [*hostile, str(device)]},
                     "/admin/devices")
    assert "/admin/bulk/" in response.location and command_count(app) == 1, "the real id still counts"


def test_admin_device_limit_in_unicode_digits_is_a_form_error(admin_client):
    page = admin_client.get("/admin/settings/enrollment").get_data(as_text=True)
    response = admin_client.post("/admin/settings/enrollment", data={
        "csrf_token": csrf_token_from(page), "organization_name": "Acme", "max_devices_per_user": "\u00b2",
        "enrollment_text.default": "x", "privacy_disclosure": "y"})
    assert response.status_code == 422
    assert "max_devices_per_user" in response.get_data(as_text=True) or "whole number" in response.get_data(as_text=True)


def test_api_command_free_form_value_past_64_bits_is_a_422_problem(app, api, seed):
    [device] = seed(1)
    response = api("POST", f"/devices/{device}/commands", json={"request_type": "InstallApplication", "iTunesStoreID": 1,
                                                                 "Configuration": {"Server": 10**30}})
    assert response.status_code == 422 and command_count(app) == 0
