"""Profiles reach exactly the devices their scope names, with simulated phones through the real queue."""
import plistlib

import pytest
from sqlalchemy import select

from mdm_core.simulator import answers
from mdm_core.simulator.device import COMMAND_CONTENT_TYPE
from portal.extensions import db
from portal.models import ProfileState
from portal.models.base import utcnow
from portal.profiles.delivery import deliver
from tests.fuzz.device_requests import signed_put
from tests.helpers import PROFILE_CORPUS as CORPUS

WIFI = "com.example.wifi.guest"


def installs(exchanges, request_type="InstallProfile"):
    return [e for e in exchanges if e.request_type == request_type]


def states(app, profile_id):
    with app.app_context():
        return {s.device_id: s for s in db.session.scalars(select(ProfileState).where(
            ProfileState.profile_id == profile_id))}


def edited(name, **changes):
    profile = plistlib.loads((CORPUS / f"{name}.mobileconfig").read_bytes())
    profile.update(changes)
    return plistlib.dumps(profile)


def test_a_group_scoped_wifi_profile_reaches_exactly_the_groups_user_enrolled_devices(
        app, api, enroll, device_http, upload, sign_in_with_groups, device_id):
    sign_in_with_groups("demo-alice", "sales")
    sign_in_with_groups("demo-carol", "it")
    alice = enroll("user", "alice@example.org")
    carol = enroll("user", "carol@example.org")
    alice_legacy = enroll("device", "alice@example.org")
    profile_id = upload("wifi-wpa2")
    response = api("PUT", f"/profiles/{profile_id}/scope", json={"groups": ["sales"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"devices_added": 1, "devices_removed": 0}
    assert [e.status for e in installs(alice.poll(device_http))] == ["Acknowledged"]
    assert WIFI in alice.profiles
    assert installs(carol.poll(device_http)) == [] and WIFI not in carol.profiles
    assert installs(alice_legacy.poll(device_http)) == [], "legacy enrollments only when include_legacy is ticked"
    assert states(app, profile_id)[device_id(alice)].status == "installed"

    later = enroll("user", "alice@example.org", collect_inventory=False)
    first_poll = later.poll(device_http)
    first_poll = [e for e in first_poll if e.request_type != "DeclarativeManagement"]  # DDM turned on first
    assert first_poll[0].request_type == "InstallProfile", "a new device gets its profiles before the inventory round"
    assert WIFI in later.profiles

    sign_in_with_groups("demo-alice", "staff")  # left sales at the IdP: next sign-in
    for phone in (alice, later):
        assert [e.status for e in installs(phone.poll(device_http), "RemoveProfile")] == ["Acknowledged"]
        assert WIFI not in phone.profiles
        assert phone.enrollment_profile_identifier in phone.profiles
    status = api("GET", f"/profiles/{profile_id}/status").get_json()
    assert status["counts"] == {"pending": 0, "installed": 0, "failed": 0, "removing": 0}


def test_an_excluded_user_never_gets_the_profile(api, enroll, device_http, upload):
    alice, bob = enroll("user", "alice@example.org"), enroll("user", "bob@example.org")
    profile_id = upload("wifi-wpa2")
    response = api("PUT", f"/profiles/{profile_id}/scope",
                   json={"all_user_enrolled": True, "exclude": {"users": ["Bob@Example.org"]}})
    assert response.get_json() == {"devices_added": 1, "devices_removed": 0}
    assert installs(alice.poll(device_http)) and not installs(bob.poll(device_http))
    assert WIFI not in bob.profiles


def test_an_edited_profile_is_installed_again_once_and_a_deleted_one_removed(api, enroll, device_http, upload):
    phone = enroll("user")
    profile_id = upload("wifi-wpa2")
    api("PUT", f"/profiles/{profile_id}/scope", json={"all_user_enrolled": True})
    assert len(installs(phone.poll(device_http))) == 1
    same = api("PUT", f"/profiles/{profile_id}", data=(CORPUS / "wifi-wpa2.mobileconfig").read_bytes())
    assert same.get_json()["changed"] is False
    assert phone.poll(device_http) == [], "the same bytes change nothing"
    response = api("PUT", f"/profiles/{profile_id}", data=edited("wifi-wpa2", PayloadDisplayName="Guest Wi-Fi 2"))
    assert response.status_code == 200 and response.get_json()["changed"] is True
    assert len(installs(phone.poll(device_http))) == 1
    assert phone.profiles[WIFI]["PayloadDisplayName"] == "Guest Wi-Fi 2"
    assert phone.poll(device_http) == []
    other = api("PUT", f"/profiles/{profile_id}", data=edited("wifi-wpa2", PayloadIdentifier="com.example.other"))
    assert other.status_code == 409
    assert api("DELETE", f"/profiles/{profile_id}").status_code == 200
    removed = phone.poll(device_http)
    assert [(e.request_type, e.status) for e in removed] == [("RemoveProfile", "Acknowledged")]
    assert WIFI not in phone.profiles and phone.enrollment_profile_identifier in phone.profiles
    assert api("GET", f"/profiles/{profile_id}").status_code == 404


@pytest.mark.parametrize("name, payload_type", [("full-device-vpn", "com.apple.vpn.managed"),
                                                ("global-http-proxy", "com.apple.proxy.http.global"),
                                                ("managed-domains", "com.apple.domains"),
                                                ("wifi-with-proxy", "com.apple.wifi.managed")])
def test_a_profile_user_enrollment_forbids_cannot_be_scoped_to_user_enrolled_devices(
        api, enroll, device_http, upload, name, payload_type):
    legacy = enroll("device", "bob@example.org")
    profile_id = upload(name)
    for scope in ({"all_user_enrolled": True}, {"groups": ["sales"], "include_legacy": True},
                  {"users": ["alice@example.org"]}):
        response = api("PUT", f"/profiles/{profile_id}/scope", json=scope)
        assert response.status_code == 422, scope
        detail = response.get_json()["detail"]
        assert payload_type in detail["message"]
        assert any(p["payload_type"] == payload_type for p in detail["problems"])
        if name == "wifi-with-proxy":
            assert any(p["key"] == "ProxyType" for p in detail["problems"]) and "ProxyType" in detail["message"]
    legacy_only = api("POST", "/smart-groups", json={"name": "Legacy", "criteria": {"enrollment_type": "device"}})
    assert legacy_only.status_code == 201 and legacy_only.get_json()["devices"] == 1
    response = api("PUT", f"/profiles/{profile_id}/scope",
                   json={"smart_groups": [legacy_only.get_json()["id"]], "include_legacy": True})
    assert response.status_code == 200 and response.get_json()["devices_added"] == 1
    assert [e.status for e in installs(legacy.poll(device_http))] == ["Acknowledged"]


def test_variables_are_filled_per_device_and_a_missing_value_fails_only_that_device(
        app, api, enroll, device_http, upload, sign_in_with_groups, device_id):
    sign_in_with_groups("demo-alice", "staff")
    alice, dave = enroll("user", "alice@example.org"), enroll("user", "dave@example.org")
    profile_id = upload("exchange")
    api("PUT", f"/profiles/{profile_id}/scope", json={"all_user_enrolled": True})
    alice.poll(device_http)
    account = alice.profiles["com.example.exchange"]["PayloadContent"][0]
    assert (account["EmailAddress"], account["UserName"]) == ("alice@example.org", "alice@example.org")
    assert installs(dave.poll(device_http)) == [] and "com.example.exchange" not in dave.profiles
    failed = states(app, profile_id)[device_id(dave)]
    assert failed.status == "failed" and "$EMAIL has no value" in failed.error
    detail = api("GET", f"/devices/{device_id(dave)}").get_json()["desired_profiles"]
    assert [(d["identifier"], d["status"]) for d in detail] == [("com.example.exchange", "failed")]


def test_an_install_error_is_shown_with_its_error_chain_and_retried_with_backoff(
        app, api, enroll, device_http, upload, device_id, monkeypatch):
    phone = enroll("user")
    refuse = answers.CommandRefused("MCInstallationErrorDomain", 4001, "Profile Installation Failed",
                                    [("MCProfileErrorDomain", 1000, "The disk is full.")])
    monkeypatch.setitem(answers.ANSWERS, "InstallProfile", lambda device, command: (_ for _ in ()).throw(refuse))
    profile_id = upload("wifi-wpa2")
    api("PUT", f"/profiles/{profile_id}/scope", json={"all_user_enrolled": True})
    assert [e.status for e in installs(phone.poll(device_http))] == ["Error"]
    status = api("GET", f"/profiles/{profile_id}/status").get_json()
    assert status["counts"]["failed"] == 1
    [row] = status["devices"]
    assert row["status"] == "failed" and "The disk is full." in row["error"]
    assert row["error_chain"][0]["ErrorCode"] == 4001 and row["attempts"] == 1
    monkeypatch.undo()
    with app.app_context():
        assert deliver(db.session) == 0, "not before the backoff has passed"
        state = db.session.get(ProfileState, (profile_id, device_id(phone)))
        assert 50 <= (state.next_attempt_at - utcnow()).total_seconds() <= 61
        assert deliver(db.session, now=state.next_attempt_at) == 1
        db.session.commit()
    assert [e.status for e in installs(phone.poll(device_http))] == ["Acknowledged"]
    assert states(app, profile_id)[device_id(phone)].status == "installed"


def test_an_install_error_whose_error_chain_holds_a_nul_is_stored_replaced(app, api, enroll, client, upload):
    """A binary plist's text may hold a NUL, which PostgreSQL's text refuses: the report was a 500, every retry."""
    phone = enroll("user", collect_inventory=False)
    profile_id = upload("wifi-wpa2")
    api("PUT", f"/profiles/{profile_id}/scope", json={"all_user_enrolled": True})
    report = {"Status": "Idle", "EnrollmentID": phone.enrollment_id}
    while True:
        command = plistlib.loads(signed_put(client, phone, "/mdm/connect", plistlib.dumps(report, fmt=plistlib.FMT_BINARY),
                                            COMMAND_CONTENT_TYPE, None).get_data())
        report = {"Status": "Acknowledged", "CommandUUID": command["CommandUUID"], "EnrollmentID": phone.enrollment_id}
        if command["Command"]["RequestType"] == "InstallProfile":
            break
    report.update(Status="Error", ErrorChain=[{"ErrorCode": 4001, "ErrorDomain": "MCInstallationErrorDomain\x00",
                                               "LocalizedDescription": "Profile \x00Installation Failed"}])
    response = signed_put(client, phone, "/mdm/connect", plistlib.dumps(report, fmt=plistlib.FMT_BINARY),
                          COMMAND_CONTENT_TYPE, None)
    assert response.status_code == 200, response.get_data()[:300]
    [row] = api("GET", f"/profiles/{profile_id}/status").get_json()["devices"]
    assert row["status"] == "failed" and "Profile \ufffdInstallation Failed" in row["error"]


def test_a_profile_the_person_removed_is_installed_again_after_the_next_profile_list(
        app, api, enroll, device_http, upload, device_id):
    phone = enroll("user")
    profile_id = upload("wifi-wpa2")
    api("PUT", f"/profiles/{profile_id}/scope", json={"all_user_enrolled": True})
    phone.poll(device_http)
    del phone.profiles[WIFI]
    api("POST", f"/devices/{device_id(phone)}/commands", json={"request_type": "ProfileList"})
    phone.poll(device_http)
    assert states(app, profile_id)[device_id(phone)].status == "pending"
    with app.app_context():
        deliver(db.session)
        db.session.commit()
    assert installs(phone.poll(device_http)) and WIFI in phone.profiles


def test_the_enrollment_profile_can_never_be_a_library_profile(api, enroll):
    phone = enroll("user")
    enrollment = plistlib.loads((CORPUS / "wifi-wpa2.mobileconfig").read_bytes())
    enrollment["PayloadIdentifier"] = phone.enrollment_profile_identifier
    response = api("POST", "/profiles", data=plistlib.dumps(enrollment))
    assert response.status_code == 422 and "enrollment profile" in response.get_json()["detail"]


@pytest.mark.postgres_only("SQLite runs every report in a transaction")
def test_an_acknowledged_install_or_removal_is_recorded_without_a_transaction(app, api, enroll, device_http, upload,
                                                                              device_id):
    """The answer to InstallProfile and RemoveProfile, the bulk of a rollout's reports, is written with the
    command's settling in the two-statement exchange: no BEGIN, no COMMIT, no statement of its own."""
    from sqlalchemy import event

    from mdm_core import plist
    from mdm_core.simulator.device import COMMAND_CONTENT_TYPE

    def send(phone, report):
        body = plist.dumps(report)
        response = device_http.put(phone.settings.server_url, content=body,
                                   headers=phone.headers(body, COMMAND_CONTENT_TYPE))
        assert response.status_code == 200
        return response.content

    def answer(phone, request_type):
        """Answer the phone's commands up to the first ``request_type``; the transactions its report began."""
        exchange, report = phone.report_for(send(phone, phone.idle_report()))
        while exchange.request_type != request_type:  # DDM's turning on comes first
            exchange, report = phone.report_for(send(phone, report))
        begun_before = len(begun)
        send(phone, report)
        return len(begun) - begun_before

    phone = enroll("user", collect_inventory=False)
    profile_id = upload("wifi-wpa2")
    begun = []
    with app.app_context():
        engine = db.engine
    listener = lambda connection: begun.append(connection)  # noqa: E731
    event.listen(engine, "begin", listener)
    try:
        assert api("PUT", f"/profiles/{profile_id}/scope", json={"all_user_enrolled": True}).status_code == 200
        assert answer(phone, "InstallProfile") == 0
        assert states(app, profile_id)[device_id(phone)].status == "installed"
        assert WIFI in phone.profiles
        assert api("PUT", f"/profiles/{profile_id}/scope", json={}).status_code == 200
        assert answer(phone, "RemoveProfile") == 0
        assert states(app, profile_id)[device_id(phone)].status == "removed"
        assert WIFI not in phone.profiles
    finally:
        event.remove(engine, "begin", listener)


def test_a_dollar_written_twice_reaches_the_phone_as_one_whether_or_not_the_profile_has_variables(
        api, enroll, device_http, upload, sign_in_with_groups):
    sign_in_with_groups("demo-alice", "staff")
    phone = enroll("user", "alice@example.org")
    for identifier, name in (("com.example.wifi.escaped", "Guest"), ("com.example.wifi.named", "$FULL_NAME")):
        profile = plistlib.loads((CORPUS / "wifi-wpa2.mobileconfig").read_bytes())
        profile.update(PayloadIdentifier=identifier, PayloadDisplayName=f"Wi-Fi for {name}")
        profile["PayloadContent"][0]["Password"] = "Pa$$word"  # the builder's help: write $$ for a literal $
        api("PUT", f"/profiles/{upload(plistlib.dumps(profile))}/scope", json={"all_user_enrolled": True})
    phone.poll(device_http)
    assert phone.profiles["com.example.wifi.escaped"]["PayloadContent"][0]["Password"] == "Pa$word"
    assert phone.profiles["com.example.wifi.named"]["PayloadContent"][0]["Password"] == "Pa$word"
    assert phone.profiles["com.example.wifi.named"]["PayloadDisplayName"] == "Wi-Fi for Alice Example"
