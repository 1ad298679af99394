"""The apps API and what it guards: bad input gets a clear 4xx, the token is sealed, scopes are least
privilege, in-house apps and per-app VPN, a configuration change goes out with Settings, offboarding
releases licenses, and nothing User Enrollment forbids is queued."""
import datetime as dt
import json
import plistlib
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import select

from mdm_core.capabilities import check_command
from mdm_core.sealed import SealError, unseal
from mdm_core.vpp.token import make_content_token
from portal.apps.licenses import release_person
from portal.extensions import db
from portal.models import AppLicense, AppState, AuditEvent, Command, Device, EndUser, VppToken
from tests.helpers import PROFILE_CORPUS, in_house_app


def _queued(app, request_type):
    with app.app_context():
        return [(device.enrollment_type, plistlib.loads(command.payload)["Command"]) for command, device in
                db.session.execute(select(Command, Device).join(Device, Device.id == Command.device_id)
                                   .where(Command.request_type == request_type))]


@pytest.mark.parametrize("body, status", [(b"", 400), (b"not base64 at all", 400), (b"x" * 70_000, 413)])
def test_a_bad_token_upload_is_refused_clearly(api, body, status):
    response = api("POST", "/vpp/token", data=body)
    assert response.status_code == status and set(response.get_json()) == {"error", "detail"}


def test_an_expired_token_is_refused_and_a_good_one_is_sealed_at_rest(app, api, vpp):
    old = make_content_token(expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    assert api("POST", "/vpp/token", data=old).status_code == 400
    uploaded = api("POST", "/vpp/token", data=vpp.token_file)
    assert uploaded.status_code == 200
    assert uploaded.get_json()["organization"] == "Example Organization"
    assert dt.datetime.fromisoformat(uploaded.get_json()["expires_at"]) > dt.datetime.now(dt.timezone.utc)
    with app.app_context():
        row = db.session.get(VppToken, 1)
        assert vpp.stoken.encode() not in bytes(row.sealed_token)
        with pytest.raises(SealError):
            unseal(row.sealed_token, b"another secret", b"vpp-content-token")
        assert [e.action for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.target_type == "vpp_token"))] == ["vpp.token_uploaded"]


def test_changes_need_the_apps_scope(client, api_token):
    reader = {"Authorization": f"Bearer {api_token('reader', scopes=('read',))}"}
    assert client.get("/api/v1/apps", headers=reader).status_code == 200
    assert client.post("/api/v1/apps", headers=reader, json={"adam_id": "1"}).status_code == 403
    assert client.post("/api/v1/vpp/token", headers=reader, data=b"x").status_code == 403


@pytest.mark.parametrize("body, status", [
    (None, 400), ({}, 400), ({"adam_id": "12a"}, 400), ({"adam_id": "1", "manifest_url": "https://x/m"}, 400),
    ({"manifest_url": "http://insecure.example/m.plist"}, 400), ({"adam_id": "1", "colour": "red"}, 400),
    ({"adam_id": "1", "configuration": {"a": None}}, 422), ({"adam_id": "1", "configuration": "<dict><key>"}, 422),
    ({"adam_id": "1", "configuration": {"a": "$NOPE"}}, 422), ({"adam_id": "1", "configuration": [1]}, 422),
    ({"adam_id": "1", "configuration": {"a": 2 ** 70}}, 422), ({"adam_id": "1", "configuration": "[" * 5000}, 422),
    ({"adam_id": "1", "configuration": {"k": "x" * 70_000}}, 422), ({"adam_id": "1", "vpn_profile_id": 999}, 422),
    ({"adam_id": "1", "vpn_profile_id": "1"}, 400), ({"manifest_url": "https://apps.example.org/\ud800.plist"}, 400),
    ({"manifest_url": "https://apps.example.org/a\x00.plist"}, 400), ({"manifest_url": "https://[::1/m.plist"}, 400),
])
def test_bad_app_input_gets_a_clear_error_and_changes_nothing(api, body, status):
    response = api("POST", "/apps", json=body) if body is not None else api("POST", "/apps", data=b"{")
    assert response.status_code == status, response.get_data(as_text=True)
    assert api("GET", "/apps").get_json()["apps"] == []


@pytest.mark.parametrize("configuration", ["\ud800", "<dict><key>a</key><string>\udfff</string></dict>",
                                           {"a": "\ud800"}, {"a": ["x", "\udfff"]}, {"\ud800": 1}])
def test_a_configuration_holding_an_unpaired_surrogate_is_a_422_naming_it(api, configuration):
    """JSON can carry an unpaired surrogate, which no UTF-8 text or XML plist can: encoding the configuration
    raised UnicodeEncodeError, a 500."""
    app_id = in_house_app(api)
    response = api("PATCH", f"/apps/{app_id}", json={"configuration": configuration})
    assert response.status_code == 422, response.get_data(as_text=True)
    assert "unpaired surrogate" in response.get_json()["detail"]
    assert api("GET", f"/apps/{app_id}").get_json()["configuration"] is None


@pytest.mark.parametrize("profile_id", [2 ** 63, 10 ** 30, -(10 ** 30)])
def test_a_vpn_profile_id_past_what_the_database_holds_is_a_422(api, profile_id):
    """Only its type was checked: looking the profile up with a number past 64 bits overflowed, a 500."""
    response = api("PATCH", f"/apps/{in_house_app(api)}", json={"vpn_profile_id": profile_id})
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["error"] == "invalid_vpn_profile"


def test_an_app_store_id_is_added_once_and_missing_apps_are_404(api):
    assert api("POST", "/apps", json={"adam_id": "42"}).status_code == 201
    assert api("POST", "/apps", json={"adam_id": 42}).status_code == 409
    assert api("GET", "/apps/999").status_code == 404 and api("PATCH", "/apps/999", json={}).status_code == 404


def test_names_come_from_the_lookup_service(app, api):
    class Lookup(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            body = json.dumps({"resultCount": 1, "results": [{"trackId": 777, "trackName": "Field Notes",
                                                               "bundleId": "com.example.fieldnotes",
                                                               "artworkUrl512": "https://is1.example/icon.png"}]})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Lookup)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    saved = app.config.get("ITUNES_LOOKUP_URL")
    app.config["ITUNES_LOOKUP_URL"] = f"http://127.0.0.1:{server.server_port}/lookup"
    try:
        created = api("POST", "/apps", json={"adam_id": "777"}).get_json()
    finally:
        app.config["ITUNES_LOOKUP_URL"] = saved
        server.shutdown()
    assert (created["name"], created["bundle_id"], created["icon_url"]) == (
        "Field Notes", "com.example.fieldnotes", "https://is1.example/icon.png")


def test_an_in_house_app_with_per_app_vpn_installs_without_a_license_and_reconfigures_with_settings(
        app, api, enroll, person, worker_pass, device_http):
    vpn = api("POST", "/profiles", data=(PROFILE_CORPUS / "per-app-vpn.mobileconfig").read_bytes()).get_json()["id"]
    created = api("POST", "/apps", json={"manifest_url": "https://apps.example.org/tool/tool.plist",
                                         "bundle_id": "com.example.tool", "vpn_profile_id": vpn,
                                         "configuration": {"user": "$MANAGED_APPLE_ID"}})
    assert created.status_code == 201, created.get_data(as_text=True)
    app_id = created.get_json()["id"]
    person("fay@example.org", "tools")
    phone = enroll(managed_apple_id="fay@example.org")
    api("PUT", f"/profiles/{vpn}/scope", json={"groups": ["tools"]})  # the VPN the app's VPNUUID names
    phone.poll(device_http)
    api("PUT", f"/apps/{app_id}/scope", json={"groups": ["tools"]})
    phone.poll(device_http)
    [(_, install)] = _queued(app, "InstallApplication")
    assert install["ManifestURL"] == "https://apps.example.org/tool/tool.plist"
    assert install["Attributes"] == {"VPNUUID": "9A0B1C2D-3E4F-4A5B-8C6D-7E8F9A0B1C2D"}
    assert install["Configuration"] == {"user": "fay@example.org"} and install["ManagementFlags"] == 1
    assert api("PATCH", f"/apps/{app_id}", json={"configuration": {"user": "$EMAIL", "v": 2}}).status_code == 200
    [(_, settings)] = _queued(app, "Settings")
    # the bundle ID the phone reported (from the manifest) wins over the one typed in
    assert settings["Settings"] == [{"Item": "ApplicationConfiguration", "Identifier": "com.example.inhouse.tool",
                                     "Configuration": {"user": "fay@example.org", "v": 2}}]
    phone.poll(device_http)
    counts = api("GET", f"/apps/{app_id}/status").get_json()["counts"]
    assert (counts["pending"], counts["installed"]) == (1, 0), "the new configuration does not confirm the install"
    for later in (30, 60, 90):  # the worker asks how the install goes: Installing, then Managed
        worker_pass(seconds_later=later)
        phone.poll(device_http)
    assert api("GET", f"/apps/{app_id}/status").get_json()["counts"]["installed"] == 1
    assert api("GET", f"/apps/{app_id}").get_json()["configuration"] == {"user": "$EMAIL", "v": 2}


def test_nothing_user_enrollment_forbids_is_ever_queued(app, api, vpp, enroll, person, worker_pass, device_http):
    vpp.state.add_asset("5005", total_count=5)
    api("POST", "/vpp/token", data=vpp.token_file)
    api("POST", "/vpp/sync")
    [entry] = api("GET", "/apps").get_json()["apps"]
    person("gus@example.org", "all")
    phones = [enroll(managed_apple_id="gus@example.org", license_check=vpp.state.holds_license),
              enroll("device", managed_apple_id="gus@example.org")]
    api("PATCH", f"/apps/{entry['id']}", json={"configuration": {"a": "$EMAIL"}})
    api("PUT", f"/apps/{entry['id']}/scope", json={"groups": ["all"], "include_legacy": True})
    for later in (0, 30, 60):
        worker_pass(seconds_later=later)
        for phone in phones:
            phone.poll(device_http)
    sent = [(kind, command) for request_type in ("InstallApplication", "ManagedApplicationList", "Settings")
            for kind, command in _queued(app, request_type)]
    assert {kind for kind, _ in sent} == {"user", "device"}
    for kind, command in sent:
        assert [p for p in check_command(kind, command) if p.severity == "error"] == []
        assert "ChangeManagementState" not in command
    assert vpp.state.assigned_count("5005") == 1  # one person, two devices
    assert api("GET", f"/apps/{entry['id']}/status").get_json()["counts"]["installed"] == 2


def test_a_person_who_leaves_keeps_no_license(app, api, vpp, enroll, person, worker_pass):
    vpp.state.add_asset("6006", total_count=5)
    api("POST", "/vpp/token", data=vpp.token_file)
    api("POST", "/vpp/sync")
    [entry] = api("GET", "/apps").get_json()["apps"]
    user_id = person("hal@example.org", "ops")
    enroll(managed_apple_id="hal@example.org")
    api("PUT", f"/apps/{entry['id']}/scope", json={"groups": ["ops"]})
    worker_pass()
    assert vpp.state.holds_license("hal@example.org", "6006")
    with app.app_context():
        assert release_person(db.session, user_id) == 1
        db.session.commit()
        assert [s.status for s in db.session.scalars(select(AppState))] == ["removing"]
    with app.app_context():  # the worker runs the job (the person's groups are gone by then)
        from portal.desired_state import memberships_synced
        memberships_synced(db.session, db.session.get(EndUser, user_id), [])
        db.session.commit()
    worker_pass()
    assert not vpp.state.holds_license("hal@example.org", "6006")
    with app.app_context():
        assert db.session.query(AppLicense).count() == 0


def test_the_dashboard_warns_30_days_before_the_token_expires(app, api, vpp, admin_client):
    soon = make_content_token(expires_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=20))
    assert api("POST", "/vpp/token", data=soon).status_code == 200
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert "content token expires on" in page and ("(19 days)" in page or "(20 days)" in page)
    later = make_content_token(expires_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=40))
    api("POST", "/vpp/token", data=later)
    assert "content token expires" not in admin_client.get("/admin/").get_data(as_text=True)


def test_me_and_the_device_page_list_the_organisations_apps_on_each_phone(app, client, api, seed, admin_client):
    from tests.helpers import demo_sign_in

    demo_sign_in(client, next_path="/me/")
    with app.app_context():
        email = db.session.scalar(select(EndUser.managed_apple_id))
    mine, = seed(1, managed_apple_id=email)
    seed(1, managed_apple_id="someone-else@example.org")
    created = api("POST", "/apps", json={"manifest_url": "https://apps.example.org/crm.plist", "name": "CRM <Field>",
                                         "bundle_id": "com.example.crm"})
    other = api("POST", "/apps", json={"manifest_url": "https://apps.example.org/hr.plist", "name": "HR Portal"})
    api("PUT", f"/apps/{created.get_json()['id']}/scope", json={"users": [email]})
    api("PUT", f"/apps/{other.get_json()['id']}/scope", json={"users": ["someone-else@example.org"]})
    page = client.get("/me/").get_data(as_text=True)
    assert "Apps from the organisation" in page and "CRM &lt;Field&gt;" in page and "HR Portal" not in page
    admin_page = admin_client.get(f"/admin/devices/{mine}").get_data(as_text=True)
    assert f'href="/admin/apps/{created.get_json()["id"]}"' in admin_page
    assert api("DELETE", f"/apps/{created.get_json()['id']}").status_code == 200
    assert [a["name"] for a in api("GET", "/apps").get_json()["apps"]] == ["HR Portal"]
    assert "being removed" in client.get("/me/").get_data(as_text=True)


def test_offboarding_a_person_releases_their_licenses(app, api, vpp, enroll, person, worker_pass):
    """Directory sync's offboarding runs the apps step: the leaver's license goes back to the pool."""
    from portal.offboarding.actions import offboard

    vpp.state.add_asset("7007", total_count=5)
    api("POST", "/vpp/token", data=vpp.token_file)
    api("POST", "/vpp/sync")
    [entry] = api("GET", "/apps").get_json()["apps"]
    user_id = person("ivy@example.org", "ops")
    enroll(managed_apple_id="ivy@example.org")
    api("PUT", f"/apps/{entry['id']}/scope", json={"groups": ["ops"]})
    worker_pass()
    assert vpp.state.holds_license("ivy@example.org", "7007")
    with app.app_context():
        offboard(db.session, db.session.get(EndUser, user_id), "admin")
        db.session.commit()
    worker_pass()
    assert not vpp.state.holds_license("ivy@example.org", "7007")
    assert vpp.state.assigned_count("7007") == 0
