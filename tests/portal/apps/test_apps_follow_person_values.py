"""An app configuration filled in with a person's values is sent again (Settings, ApplicationConfiguration) when a
value it uses changes, and only then; the person's other apps are left alone."""
import plistlib

import pytest
from sqlalchemy import func, select, update

from mdm_core import queue
from portal.apps import results
from portal.apps.delivery import deliver
from portal.desired_state import values_changed
from portal.extensions import db
from portal.models import AppState, Command, EndUser
from portal.models.base import utcnow
from tests.helpers import commit_while_waiting


def _configurations(app, device_id):
    """What was sent to the device for each app, in order: the configuration of each install or Settings."""
    with app.app_context():
        commands = [plistlib.loads(payload)["Command"] for payload in db.session.scalars(
            select(Command.payload).where(Command.device_id == device_id,
                                          Command.request_type.in_(("InstallApplication", "Settings")))
            .order_by(Command.id))]
    sent = []
    for command in commands:
        if command["RequestType"] == "InstallApplication":
            sent.append((command["ManifestURL"].rsplit("/", 1)[1], command["Configuration"]))
        else:
            [item] = command["Settings"]
            sent.append((item["Identifier"], item["Configuration"]))
    return sent


def _in_house(api, name, configuration):
    created = api("POST", "/apps", json={"manifest_url": f"https://apps.example.org/{name}/{name}.plist",
                                         "bundle_id": f"com.example.{name}"})
    assert created.status_code == 201, created.get_data(as_text=True)
    app_id = created.get_json()["id"]
    assert api("PATCH", f"/apps/{app_id}", json={"configuration": configuration}).status_code == 200
    api("PUT", f"/apps/{app_id}/scope", json={"groups": ["field"]})
    return app_id


def _ines_with_notes(api, enroll, person):
    """Ines, in the field group, with her phone enrolled and the notes app (configured with her name) scoped to it."""
    user_id = person("ines@example.org", "field")
    phone = enroll(managed_apple_id="ines@example.org")
    _in_house(api, "notes", {"signature": "$FULL_NAME"})
    return user_id, phone


def _renamed(user_id):
    """Ines is now Ines Ramos, and the desired state follows (the caller commits)."""
    db.session.get(EndUser, user_id).name = "Ines Ramos"
    values_changed(db.session, [user_id])


def test_a_new_name_sends_again_only_the_configurations_filled_in_with_the_name(
        app, api, enroll, person, worker_pass, device_http, device_id):
    user_id, phone = _ines_with_notes(api, enroll, person)
    _in_house(api, "mail", {"account": "$EMAIL"})
    phone.poll(device_http)
    for later in (0, 30, 60):  # installs, then the worker asks how they go: Prompting, Installing, Managed
        worker_pass(seconds_later=later)
        phone.poll(device_http)
    before = _configurations(app, device_id(phone))
    assert sorted(before) == [("mail.plist", {"account": "ines@example.org"}), ("notes.plist", {"signature": "Ines"})]

    with app.app_context():
        _renamed(user_id)
        db.session.commit()
    worker_pass()
    phone.poll(device_http)
    [(identifier, configuration)] = _configurations(app, device_id(phone))[len(before):]
    assert identifier.endswith(".notes"), "the mail app's configuration has her e-mail alone"
    assert configuration == {"signature": "Ines Ramos"}
    worker_pass()
    assert len(_configurations(app, device_id(phone))) == 3, "sent once"


def test_a_new_name_reaches_an_install_queued_before_the_change(
        app, api, enroll, person, worker_pass, device_http, device_id):
    user_id, phone = _ines_with_notes(api, enroll, person)
    with app.app_context():  # its InstallApplication is queued, filled in with "Ines"; the phone has not fetched it
        [state] = db.session.scalars(select(AppState)).all()
        assert (state.status, state.identifier) == ("pending", None) and state.last_command_uuid is not None
        _renamed(user_id)
        db.session.commit()
    phone.poll(device_http)
    for later in (0, 30, 60):
        worker_pass(seconds_later=later)
        phone.poll(device_http)
    assert _configurations(app, device_id(phone))[-1][1] == {"signature": "Ines Ramos"}


@pytest.mark.postgres_only("two transactions at once")
def test_an_app_list_answered_while_a_new_name_is_written_keeps_the_configuration_to_send(
        app, api, enroll, person, device_http):
    user_id, phone = _ines_with_notes(api, enroll, person)
    phone.poll(device_http)
    with app.app_context():  # installed, not yet confirmed managed
        db.session.execute(update(AppState).values(status="installing", identifier="com.example.notes"))
        db.session.commit()
        device_id = db.session.scalar(select(AppState.device_id))
    answered = {}

    def list_answered():  # the phone's ManagedApplicationList answer, read before the new name is committed
        with app.app_context(), db.engine.begin() as connection:
            results.record(connection, device_id, "ManagedApplicationList", "list-uuid", queue.ACKNOWLEDGED, None,
                           {"ManagedApplicationList": {"com.example.notes": {"Status": "Managed"}}},
                           utcnow())
        answered["list"] = "done"

    with app.app_context():
        _renamed(user_id)
        commit_while_waiting(app, list_answered)
    assert answered == {"list": "done"}
    with app.app_context():
        state = db.session.scalar(select(AppState))
        assert (state.status, state.last_command_uuid) == ("installing", None), \
            "her new name is still to be sent, and the install still to be confirmed"


def _state(app):
    with app.app_context():
        state = db.session.scalar(select(AppState))
        return state.status, state.last_command_uuid


def _lists(app, device_id):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Command).where(
            Command.device_id == device_id, Command.request_type == "ManagedApplicationList"))


def test_a_new_configuration_sent_during_an_install_does_not_confirm_the_install(
        app, api, enroll, person, worker_pass, device_http, device_id):
    user_id, phone = _ines_with_notes(api, enroll, person)
    phone.poll(device_http)  # the phone accepts the install: Prompting
    assert _state(app)[0] == "installing"
    with app.app_context():
        _renamed(user_id)
        db.session.commit()
    assert _state(app) == ("installing", None)
    lists = _lists(app, device_id(phone))
    worker_pass(seconds_later=30)  # the new name goes first; no list asked in its place
    [(identifier, configuration)] = _configurations(app, device_id(phone))[1:]
    assert configuration == {"signature": "Ines Ramos"}
    assert _lists(app, device_id(phone)) == lists
    phone.poll(device_http)  # Settings acknowledged: the app is still installing on the phone
    assert _state(app)[0] == "installing"
    for later in (60, 90, 120):  # the worker asks how the install goes: Installing, then Managed
        worker_pass(seconds_later=later)
        phone.poll(device_http)
    assert _state(app)[0] == "installed"
    assert phone.apps[identifier].configuration == {"signature": "Ines Ramos"}


def test_a_list_confirming_an_install_whose_new_configuration_waits_leaves_the_configuration_to_send(
        app, api, enroll, person, device_http):
    user_id, phone = _ines_with_notes(api, enroll, person)
    phone.poll(device_http)
    with app.app_context():
        device_id, identifier = db.session.execute(select(AppState.device_id, AppState.identifier)).one()
        _renamed(user_id)
        db.session.commit()
        results.record(db.session.connection(), device_id, "ManagedApplicationList", "inventory-list",
                       queue.ACKNOWLEDGED, None,
                       {"ManagedApplicationList": {identifier: {"Status": "Managed"}}}, utcnow())
        db.session.commit()
    assert _state(app) == ("pending", None), "installed, and her new name still to be sent"
    with app.app_context():
        assert deliver(db.session) == 1
        db.session.commit()
    assert _configurations(app, device_id)[-1] == (identifier, {"signature": "Ines Ramos"})
