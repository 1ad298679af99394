"""A reconciliation (the worker's pass) and a scope change racing on PostgreSQL, for every kind of desired
state: the one that reads the scopes second sees what the first wrote, so neither undoes the other
(``portal.database.locks``); and a delivery racing the device's CheckOut."""
import threading

import pytest
from sqlalchemy import func, select

from portal import remote_commands
from portal.apps import desired as app_sets
from portal.declarations import desired as declaration_sets
from portal.extensions import db
from portal.models import AppState, Command, DeclarationAssignment, Device, ProfileState
from portal.profiles import delivery
from portal.profiles import desired as profile_sets
from tests.helpers import PROFILE_CORPUS, recorded, until_waiting
from tests.portal.apps.conftest import person  # noqa: F401 (a fixture shared with the app tests)

pytestmark = pytest.mark.postgres_only("SQLite runs one writer at a time")


def _declaration(api):
    created = api("POST", "/declarations", json={"type": "com.apple.configuration.passcode.settings",
                                                  "payload": {"MinimumLength": 6}}).get_json()
    return f"/declarations/{created['id']}", select(func.count()).select_from(DeclarationAssignment)


def _profile(api):
    created = api("POST", "/profiles", data=(PROFILE_CORPUS / "wifi-wpa2.mobileconfig").read_bytes()).get_json()
    return f"/profiles/{created['id']}", select(func.count()).where(ProfileState.operation == "install")


def _app(api):
    created = api("POST", "/apps", json={"manifest_url": "https://apps.example.org/tool.plist"}).get_json()
    return f"/apps/{created['id']}", select(func.count()).where(AppState.operation == "install")


KINDS = {"declaration": (declaration_sets, _declaration), "profile": (profile_sets, _profile), "app": (app_sets, _app)}


def _offboard_alice(app, outcome: dict, after: threading.Event) -> None:
    from portal.models import EndUser
    from portal.offboarding.actions import offboard

    after.wait(10)
    with app.app_context():
        recorded(outcome, "offboard", lambda: offboard(db.session, db.session.scalar(select(EndUser)), "admin"))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("widen", [True, False], ids=["widened", "narrowed"])
def test_a_scope_change_during_a_reconciliation_is_not_undone_by_it(app, api, enroll, monkeypatch, kind, widen):
    module, make = KINDS[kind]
    enroll("user")
    path, installs = make(api)
    if not widen:
        assert api("PUT", f"{path}/scope", json={"all_user_enrolled": True}).status_code == 200
    read_scopes, admin = module.load_scopes, {}

    def counted() -> int:
        with app.app_context():
            return db.session.scalar(installs)

    def change_scope():
        admin["status"] = api("PUT", f"{path}/scope", json={"all_user_enrolled": True} if widen else {}).status_code

    def racing(session, item_type, *args, **kwargs):
        scopes = read_scopes(session, item_type, *args, **kwargs)  # the worker has read the scopes...
        if "thread" not in admin:  # ...when an admin changes one
            admin["thread"] = threading.Thread(target=change_scope)
            admin["thread"].start()
            until_waiting(app, admin["thread"], "advisory")
        return scopes

    assert counted() == (0 if widen else 1)
    monkeypatch.setattr(module, "load_scopes", racing)
    with app.app_context():
        module.reconcile(db.session)  # the worker's pass
        db.session.commit()
    admin["thread"].join(30)
    assert admin["status"] == 200
    assert counted() == (1 if widen else 0), "the worker's pass undid the admin's scope change"


def test_offboarding_while_a_scope_change_holds_the_lock_waits_for_it_and_neither_fails(
        app, api, enroll, person, monkeypatch):
    """Offboarding queues a retirement (the device's push row) and then re-scopes the person's devices; a profile's
    scope change queues an InstallProfile for the same device (the same push row) under the lock. Were the lock
    taken only at the re-scoping, each would wait for the other until PostgreSQL broke the deadlock."""
    person("alice@example.org", "sales")
    enroll("user", "alice@example.org")
    path, _ = _profile(api)
    read_scopes, inside, go, outcome = profile_sets.load_scopes, threading.Event(), threading.Event(), {}

    def paused(session, item_type, *args, **kwargs):
        if threading.current_thread().name == "admin":  # the admin's scope change, lock held
            inside.set()
            go.wait(10)
        return read_scopes(session, item_type, *args, **kwargs)

    def change_scope():
        try:
            outcome["admin"] = api("PUT", f"{path}/scope", json={"all_user_enrolled": True}).status_code
        except Exception as exc:  # noqa: BLE001 (any failure is the finding)
            outcome["admin"] = repr(exc)

    monkeypatch.setattr(profile_sets, "load_scopes", paused)
    admin = threading.Thread(target=change_scope, name="admin")
    admin.start()
    assert inside.wait(10)
    offboarding = threading.Thread(target=_offboard_alice, args=(app, outcome, inside), name="offboarding")
    offboarding.start()
    until_waiting(app, offboarding, "advisory")
    go.set()
    admin.join(30)
    offboarding.join(30)
    assert outcome == {"admin": 200, "offboard": "done"}


def test_a_sign_in_beside_an_offboarding_of_the_same_person_waits_and_neither_fails(app, enroll, person, monkeypatch):
    """A sign-in writes the person's row, then its hooks re-scope their devices; offboarding writes the same row
    and re-scopes too. Both take the lock before their first write, so one waits for the other."""
    from portal.auth import views
    from portal.auth.oidc import Identity

    person("alice@example.org", "sales")
    enroll("user", "alice@example.org")
    hooks, inside, outcome = app.extensions[views.SIGN_IN_HOOKS], threading.Event(), {}

    def slow_hook(user, groups, renamed):  # the sign-in has written alice's row: offboarding starts now
        inside.set()
        until_waiting(app, offboarding)
        for hook in hooks:
            hook(user, groups, renamed)

    monkeypatch.setitem(app.extensions, views.SIGN_IN_HOOKS, [slow_hook])

    def sign_in():
        with app.test_request_context("/auth/callback"):
            recorded(outcome, "sign_in", lambda: views._upsert_user(Identity(
                issuer="https://idp.example.org", subject="alice@example.org", managed_apple_id="alice@example.org",
                email="alice@example.org", name="Alice", groups=["engineering"])))

    offboarding = threading.Thread(target=_offboard_alice, args=(app, outcome, inside))
    signing = threading.Thread(target=sign_in)
    offboarding.start()
    signing.start()
    signing.join(30)
    offboarding.join(30)
    assert outcome == {"sign_in": "done", "offboard": "done"}


def test_the_workers_delivery_beside_an_offboarding_of_the_same_device_waits_and_neither_fails(
        app, api, enroll, person, monkeypatch):
    """The worker's delivery claims a device's due profile rows, then records its push; offboarding records the
    device's push (the retirement), then re-scopes its profile rows. Push rows are written at commit, so the
    offboarding waits for the delivery instead of both waiting for each other."""
    from portal import remote_commands
    from portal.profiles import delivery

    person("alice@example.org", "sales")
    enroll("user", "alice@example.org")
    path, _ = _profile(api)
    assert api("PUT", f"{path}/scope", json={"all_user_enrolled": True}).status_code == 200
    with app.app_context():  # due again, as a retry or the rest of a rollout is
        db.session.execute(ProfileState.__table__.update().values(last_command_uuid=None, status="pending"))
        db.session.commit()
    claimed, outcome, record_pushes = threading.Event(), {}, remote_commands.request_pushes

    def paused(devices):
        if threading.current_thread().name == "worker":  # the rows are claimed: offboarding starts now
            claimed.set()
            until_waiting(app, offboarding, "transactionid")
        return record_pushes(devices)

    monkeypatch.setattr(remote_commands, "request_pushes", paused)

    def deliver():
        with app.app_context():
            recorded(outcome, "worker", lambda: delivery.deliver(db.session))

    offboarding = threading.Thread(target=_offboard_alice, args=(app, outcome, claimed), name="offboarding")
    delivering = threading.Thread(target=deliver, name="worker")
    offboarding.start()
    delivering.start()
    delivering.join(30)
    offboarding.join(30)
    assert outcome == {"worker": "done", "offboard": "done"}


def test_a_checkout_during_the_workers_delivery_leaves_no_open_command_for_the_ended_enrollment(
        app, api, enroll, device_http, monkeypatch):
    """CheckOut finished the enrollment's open commands before deleting its rows: a delivery holding those rows
    committed its InstallProfile after, and the command stayed queued for the ended enrollment for good."""
    phone = enroll("user")
    created = api("POST", "/profiles", data=(PROFILE_CORPUS / "wifi-wpa2.mobileconfig").read_bytes()).get_json()
    assert api("PUT", f"/profiles/{created['id']}/scope", json={"all_user_enrolled": True}).status_code == 200
    phone.poll(device_http)  # installed
    with app.app_context():  # due again, as a retry or the rest of a rollout is
        db.session.execute(ProfileState.__table__.update().values(last_command_uuid=None, status="pending"))
        db.session.commit()
    outcome, record_pushes, answers = {}, remote_commands.request_pushes, {}

    def checkout():
        answers["checkout"] = phone.checkin(phone.checkout_message(), device_http).status_code

    def paused(devices):
        if threading.current_thread().name == "worker":  # commands written, not committed: the phone checks out
            checking_out = threading.Thread(target=checkout, name="checkout")
            checking_out.start()
            until_waiting(app, checking_out, "transactionid")
            answers["thread"] = checking_out
        return record_pushes(devices)

    monkeypatch.setattr(remote_commands, "request_pushes", paused)

    def deliver():
        with app.app_context():
            recorded(outcome, "worker", lambda: delivery.deliver(db.session))

    delivering = threading.Thread(target=deliver, name="worker")
    delivering.start()
    delivering.join(30)
    answers["thread"].join(30)
    assert outcome == {"worker": "done"} and answers["checkout"] == 200
    with app.app_context():
        device = db.session.scalar(select(Device))
        still_open = db.session.execute(select(Command.request_type, Command.status).where(
            Command.device_id == device.id, Command.status.in_(("queued", "sent")))).all()
        assert device.status != "enrolled"
    assert still_open == [], f"the ended enrollment ({device.status}) keeps open commands: {still_open}"
