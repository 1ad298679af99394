"""A profile filled in with a person's values ($EMAIL, $FULL_NAME ...) is installed again when a value it uses
changes, and only then: a new name reaches the profiles that use the name, not those filled in with the e-mail nor
those with no variable; a device that lacked a value gets the profile as soon as the value arrives."""
import plistlib

import pytest
from sqlalchemy import select, update

from portal.auth import demo_idp
from portal.desired_state import values_changed
from portal.extensions import db
from portal.models import EndUser, ProfileState
from portal.profiles.delivery import deliver
from tests.helpers import PROFILE_CORPUS as CORPUS, commit_while_waiting, recorded

NAMED = "com.example.wifi.named"


def _named_wifi() -> bytes:
    """A Wi-Fi profile whose name on the phone carries the person's name."""
    profile = plistlib.loads((CORPUS / "wifi-wpa2.mobileconfig").read_bytes())
    profile.update(PayloadIdentifier=NAMED, PayloadDisplayName="Wi-Fi for $FULL_NAME")
    return plistlib.dumps(profile)


def _installed(exchanges) -> list[str]:
    return [e.status for e in exchanges if e.request_type == "InstallProfile"]


def _delivered(app):
    """The worker's frequent delivery."""
    with app.app_context():
        deliver(db.session)
        db.session.commit()


def _statuses(app, device_id):
    with app.app_context():
        return {s.profile_id: s.status for s in db.session.scalars(
            select(ProfileState).where(ProfileState.device_id == device_id))}


def test_a_new_name_reinstalls_only_the_profiles_filled_in_with_the_name(
        app, api, admin_client, enroll, device_http, upload, sign_in_with_groups, device_id, monkeypatch):
    sign_in_with_groups("demo-alice", "staff")
    phone = enroll("user", "alice@example.org")
    named, exchange, plain = upload(_named_wifi()), upload("exchange"), upload("wifi-wpa2")
    listed = {p["id"]: p["variables"] for p in api("GET", "/profiles").get_json()["profiles"]}
    assert listed == {named: ["FULL_NAME"], exchange: ["EMAIL", "MANAGED_APPLE_ID"], plain: []}
    page = admin_client.get(f"/admin/profiles/{exchange}").get_data(as_text=True)
    assert "Filled in for each person with <code>$EMAIL</code>, <code>$MANAGED_APPLE_ID</code>" in page
    assert 'id="variables"' not in admin_client.get(f"/admin/profiles/{plain}").get_data(as_text=True)
    for profile_id in (named, exchange, plain):
        api("PUT", f"/profiles/{profile_id}/scope", json={"all_user_enrolled": True})
    assert len(_installed(phone.poll(device_http))) == 3
    assert phone.profiles[NAMED]["PayloadDisplayName"] == "Wi-Fi for Alice Example"

    sign_in_with_groups("demo-alice", "staff")  # the same values
    _delivered(app)
    assert _installed(phone.poll(device_http)) == []

    alice = demo_idp._USERS["demo-alice"]
    monkeypatch.setitem(demo_idp._USERS, "demo-alice", demo_idp.DemoUser(alice.sub, alice.email, "Alice Liddell",
                                                                        alice.groups))
    sign_in_with_groups("demo-alice", "staff")
    assert _statuses(app, device_id(phone))[named] == "pending", "its copy has her former name"
    _delivered(app)
    assert len(_installed(phone.poll(device_http))) == 1, "not the Exchange account (no name), nor the plain Wi-Fi"
    assert phone.profiles[NAMED]["PayloadDisplayName"] == "Wi-Fi for Alice Liddell"
    assert set(_statuses(app, device_id(phone)).values()) == {"installed"}
    _delivered(app)
    assert phone.poll(device_http) == [], "sent once"


def test_a_device_without_a_value_gets_the_profile_as_soon_as_the_value_arrives(
        app, api, enroll, device_http, upload, sign_in_with_groups, device_id):
    phone = enroll("user", "carol@example.org")  # nobody has signed in as carol: no e-mail is known
    exchange = upload("exchange")
    api("PUT", f"/profiles/{exchange}/scope", json={"all_user_enrolled": True})
    assert _statuses(app, device_id(phone))[exchange] == "failed"

    sign_in_with_groups("demo-carol", "it")
    assert _statuses(app, device_id(phone))[exchange] == "pending", "not at the end of the backoff"
    _delivered(app)
    phone.poll(device_http)
    account = phone.profiles["com.example.exchange"]["PayloadContent"][0]
    assert account["EmailAddress"] == "carol@example.org"
    assert _statuses(app, device_id(phone))[exchange] == "installed"


@pytest.mark.postgres_only("two transactions at once")
def test_a_new_name_while_the_worker_fills_in_a_due_row_reaches_the_device(
        app, api, enroll, device_http, upload, sign_in_with_groups, device_id):
    sign_in_with_groups("demo-alice", "staff")
    phone = enroll("user", "alice@example.org")
    named = upload(_named_wifi())
    api("PUT", f"/profiles/{named}/scope", json={"all_user_enrolled": True})
    phone.poll(device_http)
    with app.app_context():  # due again (an edit, a retry, a rollout's later batch)
        db.session.execute(update(ProfileState).values(status="pending", last_command_uuid=None))
        db.session.commit()
    outcome = {}

    def sign_in():
        with app.app_context():
            user = db.session.scalar(select(EndUser).where(EndUser.managed_apple_id == "alice@example.org"))
            user.name = "Alice Liddell"
            recorded(outcome, "sign-in", lambda: values_changed(db.session, [user.id]))

    with app.app_context():
        assert deliver(db.session) == 1  # the worker fills the row in with her former name; not committed yet
        commit_while_waiting(app, sign_in)
    assert outcome == {"sign-in": "done"}
    assert _statuses(app, device_id(phone))[named] == "pending", "the copy being sent has her former name"
    phone.poll(device_http)
    _delivered(app)
    phone.poll(device_http)
    assert phone.profiles[NAMED]["PayloadDisplayName"] == "Wi-Fi for Alice Liddell"
