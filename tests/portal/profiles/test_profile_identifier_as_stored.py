"""A profile's PayloadIdentifier is what the phone files it under and what RemoveProfile and ProfileList
name: the copy a device gets carries exactly the identifier the library stored (variables and $$ are not
filled in in identifiers; the upload says so with a warning)."""
import plistlib

from tests.helpers import PROFILE_CORPUS as CORPUS


def _with_identifier(identifier):
    profile = plistlib.loads((CORPUS / "wifi-wpa2.mobileconfig").read_bytes())
    profile["PayloadIdentifier"] = identifier
    return plistlib.dumps(profile)


def _installed_then_deleted(api, enroll, device_http, upload, identifier):
    phone = enroll("user", "alice@example.org")
    profile_id = upload(_with_identifier(identifier))
    assert api("GET", f"/profiles/{profile_id}").get_json()["identifier"] == identifier
    api("PUT", f"/profiles/{profile_id}/scope", json={"all_user_enrolled": True})
    phone.poll(device_http)
    installed = set(phone.profiles) - {phone.enrollment_profile_identifier}
    assert installed == {identifier}, f"the phone filed the profile as {installed}, the server knows it as {identifier}"
    assert api("DELETE", f"/profiles/{profile_id}").status_code == 200
    phone.poll(device_http)
    return phone


def test_a_dollar_escape_in_the_identifier_reaches_the_phone_as_the_stored_identifier(
        api, enroll, device_http, upload):
    phone = _installed_then_deleted(api, enroll, device_http, upload, "com.example.wifi.a$$b")
    assert set(phone.profiles) == {phone.enrollment_profile_identifier}, "the deleted profile stays on the phone"


def test_a_variable_in_the_identifier_is_kept_as_written_so_the_profile_can_be_removed(
        api, enroll, device_http, upload):
    data = _with_identifier("com.example.wifi.$USERNAME")
    response = api("POST", "/profiles", data=data)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["variables"] == []
    assert any(p["key"] == "PayloadIdentifier" and p["severity"] == "warning" for p in body["problems"])
    phone = enroll("user", "alice@example.org")
    profile_id = body["id"]
    api("PUT", f"/profiles/{profile_id}/scope", json={"all_user_enrolled": True})
    phone.poll(device_http)
    assert set(phone.profiles) == {phone.enrollment_profile_identifier, "com.example.wifi.$USERNAME"}
    assert api("DELETE", f"/profiles/{profile_id}").status_code == 200
    phone.poll(device_http)
    assert set(phone.profiles) == {phone.enrollment_profile_identifier}, \
        f"the deleted profile stays on the phone: {sorted(phone.profiles)}"
