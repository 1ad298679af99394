"""The declarations API: validation, User Enrollment refusals, status per device, legacy profiles."""
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, ProfileState
from tests.helpers import PROFILE_CORPUS as CORPUS
from tests.portal.declarations.conftest import MAIL

ENFORCEMENT = {"TargetOSVersion": "18.1", "TargetLocalDateTime": "2026-12-24T20:00:00"}


def test_a_declaration_user_enrollment_does_not_allow_is_refused_for_user_enrolled_scope(api, enroll, declare):
    enroll("user")
    created = declare("com.apple.configuration.softwareupdate.enforcement.specific", ENFORCEMENT)
    assert created["user_enrollment"] == "forbidden"
    response = api("PUT", f"/declarations/{created['id']}/scope", json={"all_user_enrolled": True})
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "not_allowed_for_scope"
    assert "softwareupdate.enforcement.specific" in body["detail"]["message"]
    assert "User Enrollment" in body["detail"]["message"]
    assert api("GET", f"/declarations/{created['id']}/status").get_json()["devices"] == []


def test_bad_declarations_are_refused_naming_the_key(api):
    cases = [
        ({"type": "com.apple.configuration.nothing", "payload": {}}, 422, "unknown_type"),
        ({"type": "com.apple.configuration.passcode.settings", "payload": {"MinimumLength": "six"}}, 422,
         "invalid_declaration"),
        ({"type": "com.apple.configuration.passcode.settings", "payload": {"Colour": 1}}, 422, "invalid_declaration"),
        ({"type": "com.apple.configuration.passcode.settings", "payload": []}, 400, "bad_request"),
        ({"type": "com.apple.configuration.passcode.settings", "payload": {}, "identifier": "a/b"}, 400, "bad_request"),
        ({"type": "com.apple.configuration.passcode.settings", "payload": {}, "extra": 1}, 400, "bad_request"),
        ({"type": "com.apple.configuration.account.mail", "payload": {**MAIL}}, 422, "unknown_reference"),
        ({"type": "com.apple.asset.useridentity", "payload": {"FullName": "$NAME"}}, 422, "invalid_declaration"),
    ]
    for document, status, error in cases:
        response = api("POST", "/declarations", json=document)
        assert (response.status_code, response.get_json()["error"]) == (status, error), (document, response.get_json())
    wrong = api("POST", "/declarations", json={"type": "com.apple.configuration.passcode.settings",
                                               "payload": {"MinimumLength": "six"}}).get_json()
    assert "MinimumLength" in wrong["detail"]["message"]
    assert api("POST", "/declarations", data=b"\xff", content_type="application/json").status_code == 400


def test_crud_paging_status_and_audit(app, api, enroll, ddm, declare):
    phone = enroll("user")
    first = declare("com.apple.configuration.passcode.settings", {"MinimumLength": 6}, "example.one")
    declare("com.apple.configuration.passcode.settings", {"MinimumLength": 8}, "example.two")
    again = api("POST", "/declarations", json={"type": "com.apple.configuration.passcode.settings",
                                                "identifier": "example.one", "payload": {}})
    assert again.status_code == 409
    page = api("GET", "/declarations?limit=1").get_json()
    assert [d["identifier"] for d in page["declarations"]] == ["example.one"] and page["next"]
    assert [d["identifier"] for d in api("GET", f"/declarations?cursor={page['next']}").get_json()["declarations"]] == [
        "example.two"]
    assert api("PUT", f"/declarations/{first['id']}/scope", json={"all_user_enrolled": True}).status_code == 200
    status = api("GET", f"/declarations/{first['id']}/status").get_json()
    assert [d["status"] for d in status["devices"]] == ["pending"] and status["counts"]["assigned"] == 1
    token = ddm(phone, "declaration-items").json()["Declarations"]["Configurations"]
    rejected = {"StatusItems": {"management": {"declarations": {"configurations": [
        {"identifier": "example.one", "server-token": token[0]["ServerToken"] if token[0]["Identifier"] == "example.one"
         else token[1]["ServerToken"], "active": False, "valid": "invalid",
         "reasons": [{"code": "Error.ConfigurationCannotBeApplied", "description": "Passcode too weak"}]}]}}},
        "Errors": [], "FullReport": False}
    assert ddm(phone, "status", rejected).status_code == 200
    row = api("GET", f"/declarations/{first['id']}/status").get_json()["devices"][0]
    assert (row["active"], row["valid"], row["status"]) == (False, "invalid", "failed")
    assert "Passcode too weak" in row["error"] and row["reasons"][0]["Code"] == "Error.ConfigurationCannotBeApplied"
    assert api("PUT", f"/declarations/{first['id']}", json={"type": "com.apple.configuration.legacy",
                                                             "payload": {}}).status_code == 409
    assert api("DELETE", f"/declarations/{first['id']}").status_code == 200
    assert api("GET", f"/declarations/{first['id']}").status_code == 404
    assert "example.one" not in str(ddm(phone, "declaration-items").json())
    with app.app_context():
        actions = [e.action for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.target_type == "declaration").order_by(AuditEvent.id))]
    assert actions == ["declaration.created", "declaration.created", "declaration.scope_changed",
                       "declaration.deleted"]


def test_a_profile_sent_as_a_legacy_declaration_is_not_also_sent_with_install_profile(
        app, api, enroll, ddm, device_http, declare):
    phone = enroll("user")
    profile = api("POST", "/profiles", data=(CORPUS / "wifi-wpa2.mobileconfig").read_bytes()).get_json()
    legacy = declare("com.apple.configuration.legacy", {}, "example.legacy", profile_id=profile["id"])
    assert api("PUT", f"/declarations/{legacy['id']}/scope", json={"all_user_enrolled": True}).status_code == 200
    assert api("PUT", f"/profiles/{profile['id']}/scope", json={"all_user_enrolled": True}).status_code == 200
    with app.app_context():
        assert db.session.scalars(select(ProfileState)).all() == [], "no InstallProfile for a DDM device"
    document = ddm(phone, "declaration/configuration/example.legacy").json()
    url = document["Payload"]["ProfileURL"]
    fetched = device_http.get(url)
    assert fetched.status_code == 200 and fetched.headers["Content-Type"] == "application/x-apple-aspen-config"
    assert b"com.example.wifi.guest" in fetched.content
    assert device_http.get(url.replace("key=", "key=0")).status_code == 404
    assert device_http.get(url.split("?")[0]).status_code == 404


def test_a_legacy_declaration_brought_by_an_activation_takes_the_profile_off_the_command_path_and_gives_it_back(
        app, api, enroll, ddm, declare):
    enroll("user")
    profile = api("POST", "/profiles", data=(CORPUS / "wifi-wpa2.mobileconfig").read_bytes()).get_json()
    declare("com.apple.configuration.legacy", {}, "example.legacy", profile_id=profile["id"])
    activation = declare("com.apple.activation.simple", {"StandardConfigurations": ["example.legacy"]},
                         "example.activation")
    assert api("PUT", f"/profiles/{profile['id']}/scope", json={"all_user_enrolled": True}).status_code == 200

    def operations():
        with app.app_context():
            return [state.operation for state in db.session.scalars(select(ProfileState))]

    assert operations() == ["install"], "on the command path while no declaration brings it"
    assert api("PUT", f"/declarations/{activation['id']}/scope", json={"all_user_enrolled": True}).status_code == 200
    assert "install" not in operations(), "the activation brings the legacy declaration: no InstallProfile too"
    assert api("PUT", f"/declarations/{activation['id']}/scope", json={}).status_code == 200
    assert operations() == ["install"], "out of the activation's reach, the profile is sent with InstallProfile again"


def test_a_data_asset_is_served_by_this_server_to_the_devices_that_hold_it(app, api, enroll, ddm, device_http):
    import base64
    import hashlib

    alice, bob = enroll("user", "alice@example.org"), enroll("user", "bob@example.org")
    content = b"<html>not for a browser</html>"
    created = api("POST", "/declarations", json={
        "type": "com.apple.asset.data", "identifier": "example.data",
        "payload": {"Reference": {"ContentType": "text/html"}}, "data": base64.b64encode(content).decode()})
    assert created.status_code == 201, created.get_json()
    reference = created.get_json()["payload"]["Reference"]
    assert (reference["Size"], reference["Hash-SHA-256"]) == (len(content), hashlib.sha256(content).hexdigest())
    api("PUT", f"/declarations/{created.get_json()['id']}/scope", json={"users": ["alice@example.org"]})
    url = ddm(alice, "declaration/asset/example.data").json()["Payload"]["Reference"]["DataURL"]
    served = alice.fetch(url, device_http, as_mdm_request=True)
    assert served.status_code == 200 and served.content == content
    assert served.headers["Content-Disposition"] == "attachment"
    assert device_http.get(url).status_code == 403
    assert ddm(bob, "declaration/asset/example.data").status_code == 404
    kept = api("PUT", f"/declarations/{created.get_json()['id']}", json={"payload": {"Reference": {
        "ContentType": "text/html"}}})
    assert kept.get_json()["changed"] is False, "a PUT without data keeps the served bytes"
    for document, message in (({"data": "not base64!"}, "base64"),
                              ({"data": base64.b64encode(b"x").decode(),
                                "payload": {"Reference": {"ContentType": "text/html\r\nX: y"}}}, "media type")):
        response = api("POST", "/declarations", json={"type": "com.apple.asset.data", "payload": {}, **document})
        assert response.status_code == 400 and message in response.get_json()["detail"]
    wrong = api("POST", "/declarations", json={"type": "com.apple.configuration.passcode.settings", "payload": {},
                                                "data": "eA=="})
    assert wrong.status_code == 400 and "only for" in wrong.get_json()["detail"]


def test_status_counts_pending_installed_failed_and_removing_as_profiles_and_apps_do(api, enroll, ddm, declare):
    phones = [enroll("user") for _ in range(4)]
    created = declare("com.apple.configuration.passcode.settings", {"MinimumLength": 6}, "example.counted")
    assert api("PUT", f"/declarations/{created['id']}/scope", json={"all_user_enrolled": True}).status_code == 200

    def report(phone, active, valid, reasons=()):
        item = {"identifier": "example.counted", "server-token": created["server_token"], "active": active,
                "valid": valid, **({"reasons": [{"code": code} for code in reasons]} if reasons else {})}
        document = {"StatusItems": {"management": {"declarations": {"configurations": [item]}}}, "FullReport": False}
        assert ddm(phone, "status", document).status_code == 200

    report(phones[0], True, "valid")
    report(phones[1], False, "valid", ["Error.ConfigurationCannotBeApplied"])
    report(phones[2], False, "invalid")
    status = api("GET", f"/declarations/{created['id']}/status").get_json()
    assert {k: status["counts"][k] for k in ("pending", "installed", "failed", "removing")} == {
        "pending": 1, "installed": 1, "failed": 2, "removing": 0}
    assert sorted(d["status"] for d in status["devices"]) == ["failed", "failed", "installed", "pending"]
    assert api("PUT", f"/declarations/{created['id']}/scope", json={"all_user_enrolled": False}).status_code == 200
    counts = api("GET", f"/declarations/{created['id']}/status").get_json()["counts"]
    assert (counts["pending"], counts["installed"], counts["failed"], counts["removing"]) == (0, 0, 0, 3)


def test_a_device_counted_as_removing_is_listed_with_its_status(api, enroll, reports_active, declare):
    """After the scope no longer reaches a phone that reported the declaration active, the status answer counts it
    ``removing`` (as the profile and app status answers do) and lists it too: an automation reading ``devices``
    (and paging with ``next``) can tell which phone is removing it. The profile status lists such a device
    with ``status: "removing"``."""
    phone = enroll("user")
    created = declare("com.apple.configuration.passcode.settings", {"MinimumLength": 6}, "example.one")
    assert api("PUT", f"/declarations/{created['id']}/scope", json={"all_user_enrolled": True}).status_code == 200
    reports_active(phone, "example.one")
    assert api("PUT", f"/declarations/{created['id']}/scope", json={}).status_code == 200
    status = api("GET", f"/declarations/{created['id']}/status").get_json()
    assert status["counts"]["removing"] == 1
    device_id = api("GET", "/devices").get_json()["devices"][0]["id"]
    assert [(d["device_id"], d["status"]) for d in status["devices"]] == [(device_id, "removing")], status


def test_status_pages_list_removing_devices_among_the_others_by_device_id(api, enroll, ddm, declare):
    """The devices of the set and those removing the declaration are one list by device id: every page size walks
    it with ``next`` in the same order, each device once, and the counts describe the devices listed."""
    phones = [enroll("user", f"{name}@example.org") for name in ("alice", "bob", "carol", "dan")]
    created = declare("com.apple.configuration.passcode.settings", {"MinimumLength": 6}, "example.paged")
    path = f"/declarations/{created['id']}/status"
    assert api("PUT", f"/declarations/{created['id']}/scope", json={"all_user_enrolled": True}).status_code == 200
    item = {"identifier": "example.paged", "server-token": created["server_token"], "active": True, "valid": "valid"}
    for phone in phones[:3]:
        document = {"StatusItems": {"management": {"declarations": {"configurations": [item]}}}, "FullReport": False}
        assert ddm(phone, "status", document).status_code == 200
    kept = ["alice@example.org", "carol@example.org", "dan@example.org"]
    assert api("PUT", f"/declarations/{created['id']}/scope", json={"users": kept}).status_code == 200
    ids = sorted(device["id"] for device in api("GET", "/devices").get_json()["devices"])
    expected = [(ids[0], "installed"), (ids[1], "removing"), (ids[2], "installed"), (ids[3], "pending")]
    for limit in (1, 2, 3, 4, 100):
        listed, cursor = [], None
        while True:
            page = api("GET", f"{path}?limit={limit}" + (f"&cursor={cursor}" if cursor else "")).get_json()
            listed += [(device["device_id"], device["status"]) for device in page["devices"]]
            if not (cursor := page["next"]):
                break
        assert listed == expected, limit
    counts = api("GET", path).get_json()["counts"]
    assert {status: counts[status] for status in ("pending", "installed", "failed", "removing")} == {
        "pending": 1, "installed": 2, "failed": 0, "removing": 1}


def test_ids_past_a_database_integer_and_unprintable_group_names_are_refused(api, declare):
    too_big = 2**70
    for document in ({"type": "com.apple.configuration.legacy", "payload": {}, "profile_id": too_big},
                     {"type": "com.apple.configuration.app.managed", "payload": {}, "app_id": too_big}):
        response = api("POST", "/declarations", json=document)
        assert response.status_code == 400 and "_id" in response.get_json()["detail"], response.get_json()
    created = declare("com.apple.configuration.passcode.settings", {"MinimumLength": 6})
    for scope in ({"groups": ["\ud800"]}, {"exclude": {"groups": ["staff\n"]}}):
        response = api("PUT", f"/declarations/{created['id']}/scope", json=scope)
        assert response.status_code == 400 and "printable" in response.get_json()["detail"], response.get_json()


def test_a_create_that_loses_the_race_for_its_identifier_is_a_conflict(api, monkeypatch):
    """Two creates of one identifier both pass the look-up; the second is told 409 by the unique index."""
    document = {"type": "com.apple.configuration.passcode.settings", "identifier": "example.raced", "payload": {}}
    assert api("POST", "/declarations", json=document).status_code == 201
    from portal.declarations import service
    looked_up, real = [], service.find_by_identifier

    def late(session, identifier):  # the first look-up runs before the other request's commit
        looked_up.append(identifier)
        return None if len(looked_up) == 1 else real(session, identifier)

    monkeypatch.setattr(service, "find_by_identifier", late)
    response = api("POST", "/declarations", json=document)
    assert response.status_code == 409 and response.get_json()["error"] == "identifier_exists"
    assert len(api("GET", "/declarations").get_json()["declarations"]) == 1


def test_an_asset_reference_names_an_asset_of_a_type_the_schema_lets_it_name(api, declare):
    declare("com.apple.asset.data", {"Reference": {"DataURL": "https://files.example.org/a.txt",
                                                   "ContentType": "text/plain"}}, "example.data")
    response = api("POST", "/declarations", json={"type": "com.apple.configuration.account.mail",
                                                   "payload": {**MAIL, "UserIdentityAssetReference": "example.data"}})
    body = response.get_json()
    assert (response.status_code, body["error"]) == (422, "wrong_asset_type"), body
    assert "UserIdentityAssetReference" in body["detail"] and "com.apple.asset.useridentity" in body["detail"]
    declare("com.apple.asset.useridentity", {"FullName": "Alice"}, "example.identity")
    declare("com.apple.configuration.account.mail", MAIL)


def test_a_device_reporting_an_earlier_version_is_pending_until_it_reports_the_edit(
        app, api, enroll, declare, device_http, admin_client, device_row):
    phone = enroll("user")
    created = declare("com.apple.configuration.passcode.settings", {"MinimumLength": 6}, "example.edited")
    api("PUT", f"/declarations/{created['id']}/scope", json={"all_user_enrolled": True})
    phone.poll(device_http)
    path = f"/declarations/{created['id']}/status"
    [device] = api("GET", path).get_json()["devices"]
    assert (device["status"], device["current"]) == ("installed", True)

    assert api("PUT", f"/declarations/{created['id']}", json={"payload": {"MinimumLength": 8}}).get_json()["changed"]
    status = api("GET", path).get_json()
    [device] = status["devices"]
    assert (device["status"], device["current"], device["active"]) == ("pending", False, True), \
        "active, but with the version before the edit"
    assert (status["counts"]["installed"], status["counts"]["pending"]) == (0, 1)
    for page in (f"/admin/declarations/{created['id']}", f"/admin/devices/{device_row(phone).id}"):
        assert "earlier version" in admin_client.get(page).get_data(as_text=True), page

    phone.poll(device_http)  # the phone fetches the edit and reports it
    status = api("GET", path).get_json()
    assert ([d["status"] for d in status["devices"]], status["counts"]["installed"]) == (["installed"], 1)
    assert "earlier version" not in admin_client.get(f"/admin/declarations/{created['id']}").get_data(as_text=True)

    api("PUT", f"/declarations/{created['id']}/scope", json={})  # it leaves the set, and is edited again
    api("PUT", f"/declarations/{created['id']}", json={"payload": {"MinimumLength": 10}})
    assert api("GET", path).get_json()["counts"]["removing"] == 1
    assert "earlier version" not in admin_client.get(f"/admin/devices/{device_row(phone).id}").get_data(as_text=True), \
        "the device is removing it: no version is due"
