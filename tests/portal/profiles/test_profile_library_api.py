"""The profile library's REST API: uploads get the checker's verdict, never a 5xx; paging, scopes, audit."""
import plistlib

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, SmartGroup
from tests.helpers import PROFILE_CORPUS as CORPUS

#: The corpus (tests/data/profiles/README.md): what an upload of each file answers.
UPLOADS = {
    "wifi-wpa2": (201, "allowed"), "wifi-eap-tls-scep": (201, "allowed"), "exchange": (201, "allowed"),
    "imap-mail": (201, "allowed"), "caldav": (201, "allowed"), "carddav": (201, "allowed"),
    "per-app-vpn": (201, "allowed"), "web-clip": (201, "allowed"), "passcode-ue-ignored": (201, "allowed"),
    "restrictions": (201, "allowed"), "root-cert": (201, "allowed"),
    "full-device-vpn": (201, "forbidden"), "global-http-proxy": (201, "forbidden"),
    "managed-domains": (201, "forbidden"), "wifi-with-proxy": (201, "forbidden"),
    "malformed-xml": (400, None), "truncated-binary": (400, None), "billion-laughs": (400, None),
    "binary-cycle": (400, None), "binary-shared-references": (400, None), "non-dict-root": (400, None),
    "encrypted-payload-content": (422, None),
}


def test_every_corpus_file_is_listed_here():
    assert {path.stem for path in CORPUS.glob("*.mobileconfig")} == set(UPLOADS)


@pytest.mark.parametrize("name", sorted(UPLOADS))
def test_every_corpus_file_uploads_with_its_verdict(api, name):
    status, user_enrollment = UPLOADS[name]
    response = api("POST", "/profiles", data=(CORPUS / f"{name}.mobileconfig").read_bytes())
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    if status != 201:
        assert set(body) == {"error", "detail"} and body["detail"]
        return
    assert set(body) >= {"id", "name", "identifier", "problems"}
    assert body["user_enrollment"] == user_enrollment
    errors = [p for p in body["problems"] if p["severity"] == "error"]
    assert bool(errors) == (user_enrollment == "forbidden")
    if name == "passcode-ue-ignored":
        assert {p["key"] for p in body["problems"] if p["severity"] == "warning"} >= {"forcePIN", "minLength"}


def test_an_oversized_upload_answers_413(api):
    profile = plistlib.loads((CORPUS / "wifi-wpa2.mobileconfig").read_bytes())
    profile["PayloadDescription"] = "x" * (1024 * 1024 + 1)
    assert api("POST", "/profiles", data=plistlib.dumps(profile)).status_code == 413


def test_an_unknown_variable_is_refused_at_save_naming_payload_and_key(api):
    data = (CORPUS / "exchange.mobileconfig").read_bytes().replace(b"$MANAGED_APPLE_ID", b"$MANAGED_APPLEID")
    response = api("POST", "/profiles", data=data)
    assert response.status_code == 422
    [problem] = response.get_json()["detail"]
    assert (problem["payload_type"], problem["key"]) == ("com.apple.eas.account", "UserName")
    assert api("GET", "/profiles").get_json()["profiles"] == []


def test_upload_names_lists_pages_and_refuses_a_second_upload_of_an_identifier(app, api, upload):
    first = upload("wifi-wpa2", name="Office Wi-Fi")
    second = upload("caldav")
    assert api("POST", "/profiles", data=(CORPUS / "wifi-wpa2.mobileconfig").read_bytes()).status_code == 409
    page = api("GET", "/profiles?limit=1").get_json()
    assert [p["id"] for p in page["profiles"]] == [first] and page["profiles"][0]["name"] == "Office Wi-Fi"
    assert page["profiles"][0]["counts"] == {"pending": 0, "installed": 0, "failed": 0, "removing": 0}
    rest = api("GET", f"/profiles?limit=1&cursor={page['next']}").get_json()
    assert [p["id"] for p in rest["profiles"]] == [second] and rest["next"] is None
    assert api("GET", "/profiles?limit=0").status_code == 400
    detail = api("GET", f"/profiles/{first}").get_json()
    assert detail["identifier"] == "com.example.wifi.guest" and detail["scope"]["groups"] == []
    with app.app_context():
        actions = [e.action for e in db.session.scalars(select(AuditEvent).where(AuditEvent.target_type == "profile")
                                                                 .order_by(AuditEvent.id))]
    assert actions == ["profile.created", "profile.created"]


def test_a_deleted_profile_can_be_uploaded_again(api, upload):
    profile_id = upload("wifi-wpa2")
    assert api("DELETE", f"/profiles/{profile_id}").status_code == 200
    assert api("DELETE", f"/profiles/{profile_id}").status_code == 404
    assert upload("wifi-wpa2") == profile_id


@pytest.mark.parametrize("scope, status", [
    ([], 400), ({"groups": "sales"}, 400), ({"all_user_enrolled": "yes"}, 400), ({"everyone": True}, 400),
    ({"users": ["not an address"]}, 400), ({"smart_groups": [True]}, 400), ({"exclude": {"teams": []}}, 400),
    ({"groups": ["x" * 256]}, 400), ({"smart_groups": [999]}, 422)])
def test_a_bad_scope_is_refused_with_a_clear_error(api, upload, scope, status):
    profile_id = upload("wifi-wpa2")
    response = api("PUT", f"/profiles/{profile_id}/scope", json=scope)
    assert response.status_code == status
    assert response.get_json()["error"] == "invalid_scope"


def test_the_scope_is_stored_as_sent_and_audited(app, api, upload):
    profile_id = upload("wifi-wpa2")
    scope = {"all_user_enrolled": False, "include_legacy": True, "groups": ["sales"], "users": ["bob@example.org"],
             "smart_groups": [], "exclude": {"groups": ["contractors"], "users": [], "smart_groups": []}}
    assert api("PUT", f"/profiles/{profile_id}/scope", json=scope).status_code == 200
    assert api("GET", f"/profiles/{profile_id}").get_json()["scope"] == scope
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "profile.scope_changed"))
    assert event.detail["scope"] == scope and event.actor == "token:portal-tests"


def test_changing_the_library_needs_the_profiles_scope(client, api_token, upload):
    profile_id = upload("wifi-wpa2")
    reader = {"Authorization": f"Bearer {api_token('reader', scopes=('read',))}"}
    assert client.get("/api/v1/profiles", headers=reader).status_code == 200
    assert client.get(f"/api/v1/profiles/{profile_id}/status", headers=reader).status_code == 200
    assert client.put(f"/api/v1/profiles/{profile_id}/scope", json={}, headers=reader).status_code == 403
    assert client.delete(f"/api/v1/profiles/{profile_id}", headers=reader).status_code == 403
    assert client.post("/api/v1/smart-groups", json={"name": "x"}, headers=reader).status_code == 403
    writer = {"Authorization": f"Bearer {api_token('writer', scopes=('profiles',))}"}
    assert client.get("/api/v1/profiles", headers=writer).status_code == 403


def test_groups_come_from_sign_in_with_their_members(api, sign_in_with_groups):
    sign_in_with_groups("demo-alice", "sales", "staff")
    sign_in_with_groups("demo-carol", "staff")
    groups = {g["name"]: g for g in api("GET", "/groups").get_json()["groups"]}
    assert {name: (g["source"], g["members"]) for name, g in groups.items()} == {
        "sales": ("sign_in", 1), "staff": ("sign_in", 2)}
    sign_in_with_groups("demo-alice")
    groups = {g["name"]: g["members"] for g in api("GET", "/groups").get_json()["groups"]}
    assert groups == {"sales": 0, "staff": 1}


def test_smart_groups_count_their_devices_and_refuse_bad_criteria(api, seed):
    seed(2, os_version="16.7.2", product_name="iPhone12,1")
    seed(3, os_version="17.10", product_name="iPad13,4")
    seed(1, os_version="17.9", product_name="iPhone15,2")
    seed(1, enrollment_type="device", os_version="17.2")
    cases = {"new": ({"os_version_min": "17.5"}, 4), "old": ({"os_version_max": "17.0"}, 2),
             "ipads": ({"model_family": "iPad"}, 3), "legacy": ({"enrollment_type": "device"}, 1),
             "range": ({"os_version_min": "17.9", "os_version_max": "17.9.0"}, 1)}
    for name, (criteria, devices) in cases.items():
        response = api("POST", "/smart-groups", json={"name": name, "criteria": criteria})
        assert response.status_code == 201 and response.get_json()["devices"] == devices, name
        assert api("GET", f"/smart-groups/{response.get_json()['id']}").get_json()["criteria"] == criteria
    for criteria in ({"os_version_min": "seventeen"}, {"colour": "red"}, {"flagged": "yes"},
                     {"last_seen_after": "2026-01-01"}, {"enrollment_method": "carrier pigeon"}):
        assert api("POST", "/smart-groups", json={"name": "bad", "criteria": criteria}).status_code == 422, criteria
    assert api("POST", "/smart-groups", json=["x"]).status_code == 400
    assert api("GET", "/smart-groups/999").status_code == 404


def test_an_empty_upload_answers_400(api, upload):
    assert api("POST", "/profiles", data=b"").status_code == 400
    profile_id = upload("wifi-wpa2")
    assert api("PUT", f"/profiles/{profile_id}", data=b"").status_code == 400
    assert api("PUT", f"/profiles/{profile_id}", data=b"<plist>").status_code == 400


@pytest.mark.parametrize("path, status", [
    ("/profiles?cursor=%C2%B2", 400), ("/profiles?cursor=99999999999999999999999", 400), ("/groups?limit=501", 400),
    ("/groups?cursor=-5", 400), ("/profiles/99999999999999999999999", 404), ("/profiles/%D9%A1/status", 404),
    ("/smart-groups/99999999999999999999999", 404), ("/profiles/1/status?status=lost", 400)])
def test_bad_numbers_and_ids_get_a_clear_4xx(api, upload, path, status):
    upload("wifi-wpa2")
    response = api("GET", path)
    assert response.status_code == status, path
    assert response.get_json()["error"]


def test_a_smart_group_id_past_what_the_database_holds_is_refused(api, upload):
    profile_id = upload("wifi-wpa2")
    response = api("PUT", f"/profiles/{profile_id}/scope", json={"smart_groups": [2**63]})
    assert response.status_code == 400


def test_smart_groups_on_last_check_in_and_the_stale_flag(api, seed):
    from datetime import timedelta

    from portal.models.base import utcnow

    seed(2, last_seen_at=utcnow() - timedelta(days=30))
    seed(1)
    for criteria, devices in (({"flagged": True}, 2), ({"flagged": False}, 1),
                              ({"last_seen_before": (utcnow() - timedelta(days=7)).isoformat()}, 2),
                              ({"last_seen_after": (utcnow() - timedelta(days=7)).isoformat()}, 1)):
        response = api("POST", "/smart-groups", json={"name": "seen", "criteria": criteria})
        assert response.get_json()["devices"] == devices, criteria


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_smart_group_time_an_offset_pushes_past_the_calendar_is_refused_and_stores_nothing(app, api, seed,
                                                                                               moment):
    """Such a time was stored as given and overflowed once compared in UTC: the create answered 500 after
    committing, and the group's pages answered 500 on every visit."""
    seed(1)
    response = api("POST", "/smart-groups", json={"name": "g", "criteria": {"last_seen_after": moment}})
    assert response.status_code == 422 and "years 1 to 9999" in response.get_json()["detail"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SmartGroup)) == 0


def test_a_smart_group_time_is_stored_in_utc(api):
    """It used to be stored with the offset it was sent with."""
    criteria = {"last_seen_after": "2026-01-31T02:00:00+02:00"}
    response = api("POST", "/smart-groups", json={"name": "g", "criteria": criteria})
    assert response.get_json()["criteria"] == {"last_seen_after": "2026-01-31T00:00:00+00:00"}


@pytest.mark.parametrize("criteria, devices", [
    ({"last_seen_after": "0001-01-01T00:00:00+01:00"}, 2), ({"last_seen_before": "0001-01-01T00:00:00+01:00"}, 0),
    ({"last_seen_after": "9999-12-31T23:59:59-01:00"}, 0), ({"last_seen_before": "9999-12-31T23:59:59-01:00"}, 2)])
def test_a_smart_group_stored_with_a_time_past_the_calendar_still_counts_its_devices(app, api, seed, admin_client,
                                                                                     criteria, devices):
    """Groups stored before times were kept in UTC broke the API, the smart groups page and every scope naming
    them; such a time is before (year 1) or after (year 9999) every last check-in."""
    seed(2)
    with app.app_context():
        group = SmartGroup(name="old", criteria=criteria, created_by="admin@example.org")
        db.session.add(group)
        db.session.commit()
        group_id = group.id
    assert api("GET", f"/smart-groups/{group_id}").get_json()["devices"] == devices
    assert admin_client.get("/admin/smart-groups").status_code == 200
