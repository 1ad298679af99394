"""Why an install waits, and that it waits rather than going out wrong: a person the Apps and Books service
refuses to register (or whose registration event it no longer knows) is tried again with backoff (not at every
pass) and the reason shows on their devices; an app with a per-app VPN goes to a device only once that VPN profile
is installed there."""
import plistlib
from datetime import timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import AppLicense, AppUser, Command, VppToken
from portal.models.base import utcnow
from tests.helpers import PROFILE_CORPUS

ADAM = "361309726"
VPN_UUID = "9A0B1C2D-3E4F-4A5B-8C6D-7E8F9A0B1C2D"


def _installs(app):
    with app.app_context():
        return [plistlib.loads(payload)["Command"] for payload in db.session.scalars(
            select(Command.payload).where(Command.request_type == "InstallApplication"))]


def _scoped_to(api, vpp, enroll, person, email: str, group: str) -> dict:
    """The Apps and Books app (ten licenses), scoped to ``group``, whose one member ``email`` has a phone."""
    vpp.state.add_asset(ADAM, total_count=10)
    api("POST", "/vpp/token", data=vpp.token_file)
    api("POST", "/vpp/sync")
    [entry] = api("GET", "/apps").get_json()["apps"]
    person(email, group)
    enroll(managed_apple_id=email)
    api("PUT", f"/apps/{entry['id']}/scope", json={"groups": [group]})
    return entry


def _error_of(api, app_id, device):
    [row] = [d for d in api("GET", f"/apps/{app_id}/status").get_json()["devices"] if d["device_id"] == device]
    return row["status"], row["error"]


def test_a_refused_registration_is_retried_with_backoff_and_shown_on_the_persons_devices(
        app, api, vpp, enroll, person, worker_pass, device_http, device_id):
    vpp.state.add_asset(ADAM, total_count=5)
    api("POST", "/vpp/token", data=vpp.token_file)
    api("POST", "/vpp/sync")
    [entry] = api("GET", "/apps").get_json()["apps"]
    person("gina@example.org", "field")
    person("hugo@example.org", "field")
    gina = enroll(managed_apple_id="gina@example.org", license_check=vpp.state.holds_license)
    hugo = enroll(managed_apple_id="hugo@example.org", license_check=vpp.state.holds_license)
    vpp.state.refuse_registration("gina@example.org")
    api("PUT", f"/apps/{entry['id']}/scope", json={"groups": ["field"]})

    worker_pass()
    assert vpp.state.holds_license("hugo@example.org", ADAM)  # the refusal of one holds back nobody else
    assert not vpp.state.holds_license("gina@example.org", ADAM)
    status, error = _error_of(api, entry["id"], device_id(gina))
    assert status == "pending" and "refused to register this person" in error and "9602" in error
    assert "tried again at" in error
    with app.app_context():
        user = db.session.scalar(select(AppUser).where(AppUser.managed_apple_id == "gina@example.org"))
        assert (user.status, user.attempts) == ("pending", 1)
        assert utcnow() + timedelta(seconds=50) < user.next_attempt_at < utcnow() + timedelta(seconds=70)
    creates = vpp.calls["users/create"]
    for later in (0, 10, 30):  # passes before the retry is due call nothing for her
        worker_pass(seconds_later=later)
    assert vpp.calls["users/create"] == creates

    worker_pass(seconds_later=61)  # still refused: the next wait is twice as long
    with app.app_context():
        user = db.session.scalar(select(AppUser).where(AppUser.managed_apple_id == "gina@example.org"))
        assert user.attempts == 2 and user.next_attempt_at > utcnow() + timedelta(seconds=61 + 110)
    vpp.state.allow_registration("gina@example.org")
    worker_pass(seconds_later=61 + 121)
    assert vpp.state.holds_license("gina@example.org", ADAM)
    with app.app_context():
        user = db.session.scalar(select(AppUser).where(AppUser.managed_apple_id == "gina@example.org"))
        assert (user.status, user.attempts, user.error, user.next_attempt_at) == ("registered", 0, None, None)
    for phone in (gina, hugo):
        phone.poll(device_http)
    assert sorted(c["iTunesStoreID"] for c in _installs(app)) == [int(ADAM)] * 2


def test_an_app_with_a_per_app_vpn_waits_until_the_vpn_profile_is_on_the_device(
        app, api, enroll, person, worker_pass, device_http, device_id, admin_client):
    vpn = api("POST", "/profiles", data=(PROFILE_CORPUS / "per-app-vpn.mobileconfig").read_bytes()).get_json()["id"]
    created = api("POST", "/apps", json={"manifest_url": "https://apps.example.org/tool/tool.plist",
                                         "bundle_id": "com.example.tool", "vpn_profile_id": vpn}).get_json()
    person("ines@example.org", "tools")
    phone = enroll(managed_apple_id="ines@example.org")
    api("PUT", f"/apps/{created['id']}/scope", json={"groups": ["tools"]})
    phone.poll(device_http)
    worker_pass()
    assert _installs(app) == []  # never a VPNUUID that names no VPN on the phone
    status, error = _error_of(api, created["id"], device_id(phone))
    assert status == "pending" and "is not in this device's scope" in error
    page = admin_client.get(f"/admin/apps/{created['id']}").get_data(as_text=True)
    assert "is not in this device&#39;s scope" in page or "is not in this device's scope" in page

    api("PUT", f"/profiles/{vpn}/scope", json={"groups": ["tools"]})
    assert "waiting for the per-app VPN profile" in _error_of(api, created["id"], device_id(phone))[1]
    phone.poll(device_http)  # the VPN profile is installed
    worker_pass()
    [install] = _installs(app)
    assert install["Attributes"] == {"VPNUUID": VPN_UUID}
    phone.poll(device_http)
    for later in (30, 60):  # the worker asks how the install goes: Prompting, Installing, Managed
        worker_pass(seconds_later=later)
        phone.poll(device_http)
    assert api("GET", f"/apps/{created['id']}/status").get_json()["counts"]["installed"] == 1


def test_an_app_whose_vpn_profile_was_deleted_waits_and_says_so(app, api, enroll, person, worker_pass, device_id):
    vpn = api("POST", "/profiles", data=(PROFILE_CORPUS / "per-app-vpn.mobileconfig").read_bytes()).get_json()["id"]
    created = api("POST", "/apps", json={"manifest_url": "https://apps.example.org/tool/tool.plist",
                                         "bundle_id": "com.example.tool", "vpn_profile_id": vpn}).get_json()
    assert api("DELETE", f"/profiles/{vpn}").status_code in (200, 204)
    person("jon@example.org", "tools")
    phone = enroll(managed_apple_id="jon@example.org")
    api("PUT", f"/apps/{created['id']}/scope", json={"groups": ["tools"]})
    worker_pass()
    assert _installs(app) == []
    assert "per-app VPN profile was deleted" in _error_of(api, created["id"], device_id(phone))[1]


def test_a_refused_association_is_retried_with_backoff_and_a_forgotten_person_registered_again(
        app, api, vpp, enroll, person, worker_pass, device_id):
    vpp.state.add_asset(ADAM, total_count=5)
    vpp.state.add_asset("5005", total_count=5)
    api("POST", "/vpp/token", data=vpp.token_file)
    api("POST", "/vpp/sync")
    apps = {entry["adam_id"]: entry["id"] for entry in api("GET", "/apps").get_json()["apps"]}
    person("kim@example.org", "field")
    phone = enroll(managed_apple_id="kim@example.org")
    api("PUT", f"/apps/{apps[ADAM]}/scope", json={"groups": ["field"]})
    worker_pass()
    assert vpp.state.holds_license("kim@example.org", ADAM)
    with vpp.state.lock:  # the service loses the person (9609 from now on)
        [cid] = list(vpp.state.users)
        vpp.state.users.pop(cid)
    api("PUT", f"/apps/{apps['5005']}/scope", json={"groups": ["field"]})
    worker_pass()
    status, error = _error_of(api, apps["5005"], device_id(phone))
    assert status == "pending" and "refused the association" in error and "9609" in error
    associations = vpp.calls["assets/associate"]
    worker_pass(seconds_later=10)  # registers the person again, but the license waits for its retry
    assert cid in vpp.state.users and vpp.calls["assets/associate"] == associations
    worker_pass(seconds_later=61)
    assert vpp.state.holds_license("kim@example.org", "5005")
    assert _error_of(api, apps["5005"], device_id(phone))[1] is None


def test_a_refused_release_is_retried_with_backoff(app, api, vpp, enroll, person, worker_pass):
    _scoped_to(api, vpp, enroll, person, "lea@example.org", "field")
    worker_pass()
    assert vpp.state.holds_license("lea@example.org", ADAM)
    with vpp.state.lock:  # the service answers the release "Invalid argument" for a while
        asset = vpp.state.assets.pop((ADAM, "STDQ"))
    person("lea@example.org")  # she leaves the group: her license is to be released
    worker_pass()
    with app.app_context():
        [license_] = db.session.scalars(select(AppLicense)).all()
        assert (license_.status, license_.attempts) == ("releasing", 1) and "refused the release" in license_.error
    releases = vpp.calls["assets/disassociate"]
    worker_pass(seconds_later=30)
    assert vpp.calls["assets/disassociate"] == releases
    with vpp.state.lock:
        vpp.state.assets[(ADAM, "STDQ")] = asset
    worker_pass(seconds_later=61)
    assert not vpp.state.holds_license("lea@example.org", ADAM)
    with app.app_context():
        assert db.session.scalars(select(AppLicense)).all() == []


def test_a_registration_event_the_service_no_longer_knows_is_retried_and_blocks_nobody_else(
        app, api, vpp, enroll, person, worker_pass):
    """Its status answered 400, errorNumber 9708, failed every pass before anything else was done: the person
    stayed registering forever and nobody new was registered or licensed."""
    _scoped_to(api, vpp, enroll, person, "dan@example.org", "ops")
    vpp.state.delay = 3600  # the service is slow to finish the event ...
    worker_pass()
    with app.app_context():
        [(status, event_id)] = db.session.execute(select(AppUser.status, AppUser.event_id)).all()
    assert status == "registering"
    vpp.state.complete_due(everything=True)
    with vpp.state.lock:  # ... then forgets it: 400, errorNumber 9708
        del vpp.state.events[event_id]
    vpp.state.delay = 0
    person("eve@example.org", "ops")
    enroll(managed_apple_id="eve@example.org")
    worker_pass()
    assert vpp.state.holds_license("eve@example.org", ADAM)
    with app.app_context():
        dan = db.session.scalar(select(AppUser).where(AppUser.managed_apple_id == "dan@example.org"))
        assert (dan.status, dan.attempts) == ("pending", 1) and "9708" in dan.error
        assert db.session.get(VppToken, 1).last_error is None
    worker_pass(seconds_later=61)  # registered again: the service says it knows him (9716), which is a registration
    assert vpp.state.holds_license("dan@example.org", ADAM)
