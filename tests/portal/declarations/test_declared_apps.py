"""Managed-app declarations drawing on the app catalogue: the server writes what installs the app, and an App
Store app reaches a phone through DDM only once its person holds the license, the same license the command
path would use (registered, associated and released by the Apps and Books job)."""
from sqlalchemy import select

from mdm_core.vpp.standin_state import store_bundle_id
from portal.extensions import db
from portal.models import AppLicense, Command, DeviceApp
from tests.helpers import csrf_token_from
from tests.portal.apps.test_app_rollout import ADAM, _start

MANAGED_APP = "com.apple.configuration.app.managed"


def _installs(app):
    with app.app_context():
        return db.session.scalar(select(Command.id).where(Command.request_type == "InstallApplication"))


def test_an_app_store_app_declared_for_a_group_is_licensed_per_person_before_it_reaches_the_phone(
        app, api, vpp, enroll, person, worker_pass, device_http, declare):
    app_id = _start(api, vpp)
    person("alice@example.org", "sales")
    person("carol@example.org", "it")
    alice = enroll(managed_apple_id="alice@example.org", license_check=vpp.state.holds_license)
    carol = enroll(managed_apple_id="carol@example.org", license_check=vpp.state.holds_license)
    created = declare(MANAGED_APP, {"AppStoreID": "1", "InstallBehavior": {"Install": "Required"}}, "example.app",
                      app_id=app_id)
    assert created["app_id"] == app_id
    assert created["payload"] == {"AppStoreID": ADAM, "InstallBehavior": {"Install": "Required",
                                                                          "License": {"Assignment": "User"}}}
    api("PUT", f"/declarations/{created['id']}/scope", json={"groups": ["sales"]})
    alice.poll(device_http)
    assert "example.app" not in alice.ddm.held, "no license yet: the declaration waits, as an install would"

    worker_pass()  # registers alice and associates her license
    assert vpp.state.holds_license("alice@example.org", ADAM)
    assert not vpp.state.holds_license("carol@example.org", ADAM)
    worker_pass()  # her set gains the declaration
    for phone in (alice, carol):
        phone.poll(device_http)
    assert alice.ddm.state_of("example.app")["active"]
    assert alice.ddm.outcome.values["app.managed.list"][0]["identifier"] == store_bundle_id(ADAM)
    with app.app_context():
        assert db.session.scalars(select(DeviceApp.identifier)).all() == [store_bundle_id(ADAM)], \
            "the phone's report keys the app by its bundle ID, as ManagedApplicationList does"
    assert "example.app" not in carol.ddm.held
    assert _installs(app) is None, "delivered declaratively: no InstallApplication"

    api("PUT", f"/declarations/{created['id']}/scope", json={})
    worker_pass()
    alice.poll(device_http)
    assert "example.app" not in alice.ddm.held
    assert not vpp.state.holds_license("alice@example.org", ADAM), "the license is released with the scope"
    with app.app_context():
        assert db.session.scalar(select(AppLicense.status)) is None


def test_an_in_house_app_gets_its_manifest_url_and_bad_app_ids_are_refused(api, declare):
    in_house = api("POST", "/apps", json={"manifest_url": "https://apps.example.org/tool/tool.plist"}).get_json()
    created = declare(MANAGED_APP, {"BundleID": "com.example.other"}, "example.tool", app_id=in_house["id"])
    assert created["payload"] == {"ManifestURL": "https://apps.example.org/tool/tool.plist"}
    kept = api("PUT", f"/declarations/{created['id']}", json={"payload": {}}).get_json()
    assert kept["app_id"] == in_house["id"] and kept["payload"]["ManifestURL"].endswith("tool.plist")
    for document, status in (({"type": MANAGED_APP, "app_id": 999}, 422), ({"type": MANAGED_APP, "app_id": "1"}, 400),
                             ({"type": "com.apple.configuration.passcode.settings", "app_id": in_house["id"]}, 400)):
        response = api("POST", "/declarations", json={"payload": {}, **document})
        assert response.status_code == status, response.get_json()


def test_the_admin_picks_the_app_from_the_catalogue_on_the_page(app, api, admin_client):
    in_house = api("POST", "/apps", json={"manifest_url": "https://apps.example.org/crm.plist",
                                          "name": "CRM"}).get_json()
    page = admin_client.get("/admin/declarations").get_data(as_text=True)
    assert "CRM" in page
    response = admin_client.post("/admin/declarations", data={
        "csrf_token": csrf_token_from(page), "type": MANAGED_APP, "identifier": "example.crm", "payload": "{}",
        "app_id": str(in_house["id"])})
    assert response.status_code == 303
    created = api("GET", "/declarations").get_json()["declarations"][0]
    assert created["app_id"] == in_house["id"] and created["payload"]["ManifestURL"].endswith("crm.plist")
    assert "catalogue app" in admin_client.get(response.location).get_data(as_text=True)


def test_an_app_taken_out_of_the_catalogue_leaves_the_phones_that_had_it_declaratively(
        api, vpp, enroll, person, worker_pass, device_http, declare):
    app_id = _start(api, vpp)
    person("alice@example.org", "sales")
    alice = enroll(managed_apple_id="alice@example.org", license_check=vpp.state.holds_license)
    created = declare(MANAGED_APP, {}, "example.app", app_id=app_id)
    api("PUT", f"/declarations/{created['id']}/scope", json={"all_user_enrolled": True})
    worker_pass()
    worker_pass()
    alice.poll(device_http)
    assert "example.app" in alice.ddm.held
    assert api("DELETE", f"/apps/{app_id}").status_code == 200
    worker_pass()
    alice.poll(device_http)
    assert "example.app" not in alice.ddm.held, "not sent without the license it no longer has"
    assert not vpp.state.holds_license("alice@example.org", ADAM)


def test_an_app_store_app_an_activation_brings_waits_for_the_license_the_activation_makes_wanted(
        app, api, vpp, enroll, person, worker_pass, device_http, declare):
    app_id = _start(api, vpp)
    person("alice@example.org", "sales")
    alice = enroll(managed_apple_id="alice@example.org", license_check=vpp.state.holds_license)
    declare(MANAGED_APP, {"InstallBehavior": {"Install": "Required"}}, "example.app", app_id=app_id)
    activation = declare("com.apple.activation.simple", {"StandardConfigurations": ["example.app"]},
                         "example.activation")
    assert api("PUT", f"/declarations/{activation['id']}/scope", json={"groups": ["sales"]}).status_code == 200
    alice.poll(device_http)
    assert "example.activation" in alice.ddm.held and "example.app" not in alice.ddm.held, "no license yet"
    worker_pass()  # the activation's scope wants alice's license
    assert vpp.state.holds_license("alice@example.org", ADAM)
    worker_pass()
    alice.poll(device_http)
    assert alice.ddm.state_of("example.app")["active"]
