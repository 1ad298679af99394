"""Migrating legacy device enrollments to User Enrollment: states, the API, the admin page and the employee notice."""
import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from mdm_core.simulator.device import Behaviour
from portal.extensions import db
from portal.migration.notices import notify
from portal.migration.state import counts
from portal.models import AuditEvent, Command, Device, EndUser, LegacyMigration
from portal.models.base import utcnow
from tests.helpers import csrf_token_from, demo_sign_in


@pytest.fixture
def api(device_http, api_token):
    tokens = {}

    def call(method: str, path: str, scopes=("read", "migration"), **kwargs):
        key = tuple(scopes)
        if key not in tokens:
            tokens[key] = api_token("migration-" + "-".join(scopes), scopes=scopes)
        return device_http.request(method, f"/api/v1{path}", headers={"Authorization": f"Bearer {tokens[key]}"},
                                   **kwargs)

    return call


def _id(app, phone) -> int:
    column = Device.udid if phone.enrollment_type == "device" else Device.enrollment_id
    with app.app_context():
        return db.session.scalar(select(Device.id).where(column == phone.identifier))


def _state(api, device_id) -> str:
    devices = api("GET", "/migration").json()["devices"]
    return next(d["state"] for d in devices if d["id"] == device_id)


def _shift(app, device_id, days):
    """Pretend everything of the device's migration happened ``days`` ago."""
    with app.app_context():
        migration = db.session.get(LegacyMigration, device_id)
        device = db.session.get(Device, device_id)
        delta = timedelta(days=days)
        for row, columns in ((migration, ("created_at", "notified_at", "unenroll_sent_at")),
                             (device, ("unenrolled_at",))):
            for column in columns:
                if row is not None and getattr(row, column) is not None:
                    setattr(row, column, getattr(row, column) - delta)
        db.session.commit()


def test_legacy_device_goes_from_legacy_through_unenrolled_to_re_enrolled(app, api, enroll, device_http):
    legacy = enroll("device", "dana@example.org")
    device_id = _id(app, legacy)
    assert api("GET", "/migration").json()["counts"] == {"legacy": 1, "notified": 0, "unenroll_sent": 0,
                                                         "unenrolled": 0, "re_enrolled": 0, "failed": 0, "stalled": 0}
    with app.app_context():
        from portal.migration.actions import mark_notified
        assert mark_notified([device_id], actor="admin@example.org") == 1
    assert _state(api, device_id) == "notified"

    response = api("POST", "/migration/unenroll", json={"device_ids": [device_id]})
    assert response.status_code == 202, response.text
    assert _state(api, device_id) == "unenroll_sent"

    exchanges = legacy.poll(device_http)
    assert [(e.request_type, e.status) for e in exchanges] == [("RemoveProfile", "Acknowledged")]
    with app.app_context():
        assert db.session.get(Device, device_id).status == "unenrolled", "the device checked out"
    assert _state(api, device_id) == "unenrolled"

    enroll("user", "dana@example.org")
    body = api("GET", "/migration").json()
    assert body["counts"]["re_enrolled"] == 1 and body["counts"]["unenrolled"] == 0
    assert [d["state"] for d in body["devices"]] == ["re_enrolled"], "User Enrollments are not migration devices"


def test_acknowledged_removal_counts_as_unenrolled_even_without_checkout(app, api, enroll, device_http):
    legacy = enroll("device", "erin@example.org")
    device_id = _id(app, legacy)
    api("POST", "/migration/unenroll", json={"device_ids": [device_id]})
    legacy.settings = dataclasses.replace(legacy.settings, checkout_when_removed=False)  # CheckOut is best-effort
    legacy.poll(device_http)
    with app.app_context():
        assert db.session.get(Device, device_id).status == "enrolled", "no CheckOut arrived"
    assert _state(api, device_id) == "unenrolled"


def test_checkout_before_answering_the_removal_closes_it_without_calling_it_refused(app, api, enroll, device_http):
    from portal.migration.actions import history
    from portal.migration.state import rows_for_devices

    legacy = enroll("device", "dana@example.org")
    device_id = _id(app, legacy)
    assert api("POST", "/migration/unenroll", json={"device_ids": [device_id]}).status_code == 202
    legacy.checkout(device_http)  # the profile was removed on the phone: CheckOut, and no answer to the command
    assert _state(api, device_id) == "unenrolled"
    with app.app_context():
        lines = [line for _, line in history(rows_for_devices([device_id])[0])]
    assert "Removal closed unanswered: the enrollment had ended" in lines
    assert not [line for line in lines if "refused the removal" in line]


def test_unenroll_sends_remove_profile_to_exactly_the_given_legacy_devices(app, api, enroll):
    chosen = [_id(app, enroll("device", f"legacy{i}@example.org", collect_inventory=False)) for i in range(2)]
    other_legacy = _id(app, enroll("device", "other@example.org", collect_inventory=False))
    user_enrolled = _id(app, enroll("user", "ue@example.org", collect_inventory=False))
    with app.app_context():
        before = dict(db.session.execute(select(Command.device_id, func.count()).where(
            Command.request_type == "RemoveProfile").group_by(Command.device_id)).all())
    response = api("POST", "/migration/unenroll", json={"device_ids": chosen})
    assert response.status_code == 202
    assert sorted(d["device_id"] for d in response.json()["devices"]) == sorted(chosen)
    with app.app_context():
        removals = db.session.execute(select(Command.device_id, Command.payload).where(
            Command.request_type == "RemoveProfile")).all()
        assert before == {} and sorted(r.device_id for r in removals) == sorted(chosen)
        assert all(b"org.byod-mdm.enrollment" in r.payload for r in removals), "the enrollment profile is removed"
        assert other_legacy not in {r.device_id for r in removals} and user_enrolled not in {r.device_id for r in removals}
        pushed = {row[0] for row in db.session.execute(db.text("SELECT device_id FROM push_outbox"))}
        assert set(chosen) <= pushed
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "migration.unenroll_sent")) == 2


def test_a_user_enrollment_or_unknown_id_is_refused_and_nothing_is_sent(app, api, enroll):
    legacy = _id(app, enroll("device", "frank@example.org", collect_inventory=False))
    user_enrolled = _id(app, enroll("user", "frank@example.org", collect_inventory=False))
    response = api("POST", "/migration/unenroll", json={"device_ids": [legacy, user_enrolled, 999999]})
    assert response.status_code == 422
    refused = {r["device_id"]: r["reason"] for r in response.json()["detail"]}
    assert set(refused) == {user_enrolled, 999999}
    assert "User Enrollment" in refused[user_enrolled] and refused[999999] == "no such device"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Command)
                                 .where(Command.request_type == "RemoveProfile")) == 0


def test_a_pending_un_enrollment_is_not_sent_twice(app, api, enroll):
    legacy = _id(app, enroll("device", "gus@example.org", collect_inventory=False))
    assert api("POST", "/migration/unenroll", json={"device_ids": [legacy]}).status_code == 202
    again = api("POST", "/migration/unenroll", json={"device_ids": [legacy]})
    assert again.status_code == 422 and "already pending" in again.json()["detail"][0]["reason"]


def test_removal_refused_by_the_device_is_failed_and_can_be_retried(app, api, enroll, device_http):
    legacy = enroll("device", "hana@example.org", behaviour=Behaviour(keep_enrollment=True))
    device_id = _id(app, legacy)
    api("POST", "/migration/unenroll", json={"device_ids": [device_id]})
    assert [e.status for e in legacy.poll(device_http)] == ["Error"]
    assert _state(api, device_id) == "failed"
    assert api("GET", "/migration?state=failed").json()["devices"][0]["unenroll_command"]["error_chain"]
    legacy.behaviour.keep_enrollment = False
    assert api("POST", "/migration/unenroll", json={"device_ids": [device_id]}).status_code == 202
    legacy.poll(device_http)
    assert _state(api, device_id) == "unenrolled"


def test_no_checkout_after_the_stalled_threshold_is_stalled(app, api, enroll):
    device_id = _id(app, enroll("device", "ivan@example.org", collect_inventory=False))
    api("POST", "/migration/unenroll", json={"device_ids": [device_id]})
    _shift(app, device_id, 6)
    assert _state(api, device_id) == "unenroll_sent"
    _shift(app, device_id, 2)
    body = api("GET", "/migration").json()
    assert body["counts"]["stalled"] == 1 and body["devices"][0]["waiting_for"] == "checkout"


def test_unenrolled_without_user_enrollment_after_the_threshold_is_stalled_until_they_enroll(app, api, enroll,
                                                                                               device_http):
    legacy = enroll("device", "jo@example.org")
    device_id = _id(app, legacy)
    api("POST", "/migration/unenroll", json={"device_ids": [device_id]})
    legacy.poll(device_http)
    _shift(app, device_id, 8)
    body = api("GET", "/migration").json()
    assert body["counts"]["stalled"] == 1 and body["devices"][0]["waiting_for"] == "re_enrollment"
    enroll("user", "jo@example.org")
    assert _state(api, device_id) == "re_enrolled"


def test_a_phone_that_enrolls_with_the_legacy_profile_again_is_a_legacy_enrollment_again(app, api, enroll,
                                                                                         device_http):
    legacy = enroll("device", "mo@example.org")
    device_id = _id(app, legacy)
    with app.app_context():
        assert notify([device_id], actor="tests").emails == 1
    assert api("POST", "/migration/unenroll", json={"device_ids": [device_id]}).status_code == 202
    legacy.poll(device_http)  # acknowledges the removal and checks out
    assert _state(api, device_id) == "unenrolled"

    again = enroll("device", "mo@example.org", udid=legacy.udid)  # the employee installs the old profile again
    assert _id(app, again) == device_id
    with app.app_context():
        assert db.session.get(Device, device_id).status == "enrolled"
    # the phone is under legacy device enrollment once more: the campaign must not count it as done
    assert _state(api, device_id) not in ("unenrolled", "re_enrolled", "stalled")
    assert api("GET", "/migration").json()["counts"]["unenrolled"] == 0
    # its migration starts over: its owner is told again, and it is un-enrolled again
    assert _state(api, device_id) == "legacy"
    with app.app_context():
        assert notify([device_id], actor="tests").emails == 1
    assert api("POST", "/migration/unenroll", json={"device_ids": [device_id]}).status_code == 202
    assert _state(api, device_id) == "unenroll_sent"


@pytest.mark.parametrize(("legacy_id", "user_enrollment_id", "state"), [
    ("Lee.Doe@Example.org", "lee.doe@example.org", "re_enrolled"),  # Managed Apple IDs ignore case
    ("kim@example.org", "not-kim@example.org", "unenrolled"),  # someone else's enrollment completes nothing
])
def test_only_the_same_managed_apple_id_completes_the_migration(app, api, enroll, device_http, legacy_id,
                                                               user_enrollment_id, state):
    legacy = enroll("device", legacy_id)
    device_id = _id(app, legacy)
    api("POST", "/migration/unenroll", json={"device_ids": [device_id]})
    legacy.poll(device_http)
    enroll("user", user_enrollment_id)
    assert _state(api, device_id) == state


def test_a_new_holder_of_the_address_does_not_complete_the_previous_holders_migration(app, api, enroll,
                                                                                      device_http):
    with app.app_context():
        old = EndUser(issuer="https://idp.example.org", subject="pat-old", managed_apple_id="pat@example.org",
                      email="pat@example.org", name="Pat Old")
        db.session.add(old)
        db.session.commit()
    legacy = enroll("device", "pat@example.org")
    device_id = _id(app, legacy)
    with app.app_context():
        assert db.session.get(Device, device_id).user_id is not None, "the legacy phone is the first Pat's"
    assert api("POST", "/migration/unenroll", json={"device_ids": [device_id]}).status_code == 202
    legacy.poll(device_http)
    with app.app_context():
        first = db.session.scalar(select(EndUser).where(EndUser.subject == "pat-old"))
        first.offboarded_at = utcnow()
        db.session.add(EndUser(issuer="https://idp.example.org", subject="pat-new", managed_apple_id="pat@example.org",
                               email="pat@example.org", name="Pat New"))
        db.session.commit()
    enroll("user", "pat@example.org")  # the new Pat's own phone
    with app.app_context():
        new_owner = db.session.scalar(select(Device.user_id).where(Device.enrollment_type == "user"))
        assert new_owner != db.session.get(Device, device_id).user_id, "the User Enrollment is someone else's"
    assert _state(api, device_id) != "re_enrolled", "someone else's enrollment completes nothing"


@pytest.mark.parametrize(("legacy_owner", "user_enrollment_owner", "state"), [
    ("first", "second", "unenrolled"),  # the address's next holder: someone else
    ("first", "first", "re_enrolled"),
    ("first", None, "re_enrolled"),  # made while nobody held the address: the first holder's, as owned_by says
    (None, "second", "re_enrolled"),  # a legacy device linked to nobody is whoever takes its address's
])
def test_re_enrollment_is_by_the_legacy_devices_owner(app, seed, legacy_owner, user_enrollment_owner, state):
    from portal.migration.state import re_enrollment_of, rows_for_devices

    with app.app_context():
        people = {name: EndUser(issuer="https://idp.example.org", subject=name, managed_apple_id="sam@example.org",
                                email="sam@example.org", name=name) for name in ("first", "second")}
        db.session.add_all(people.values())
        db.session.commit()
        ids = {name: person.id for name, person in people.items()} | {None: None}
    now = utcnow()
    legacy_id, = seed(1, enrollment_type="device", managed_apple_id="sam@example.org", user_id=ids[legacy_owner],
                      status="unenrolled", enrolled_at=now - timedelta(days=3), unenrolled_at=now - timedelta(days=2))
    user_enrollment_id, = seed(1, managed_apple_id="sam@example.org", user_id=ids[user_enrollment_owner],
                               enrolled_at=now - timedelta(days=1))
    with app.app_context():
        row, = rows_for_devices([legacy_id])
        assert row.state == state
        successor = re_enrollment_of(row)
        assert (successor.id if successor else None) == (user_enrollment_id if state == "re_enrolled" else None)


def test_counts_are_one_query_over_many_devices(app, seed):
    seed(300, enrollment_type="device")
    seed(50, enrollment_type="user")
    statements = []
    from sqlalchemy import event

    with app.app_context():
        engine = db.engine
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            result = counts()
        finally:
            event.remove(engine, "before_cursor_execute", listener)
    assert result["legacy"] == 300 and sum(result.values()) == 300
    assert len([s for s in statements if "legacy_migrations" in s]) == 1


def test_migration_api_scopes(api, seed):
    seed(1, enrollment_type="device")
    assert api("GET", "/migration", scopes=("read",)).status_code == 200
    assert api("GET", "/migration", scopes=("migration",)).status_code == 200
    assert api("GET", "/migration", scopes=("commands",)).status_code == 403
    assert api("POST", "/migration/unenroll", scopes=("read", "commands"), json={"device_ids": [1]}).status_code == 403
    assert api("POST", "/migration/unenroll", json={"device_ids": "1"}).status_code == 400
    assert api("GET", "/migration?state=gone").status_code == 400


def test_api_pages_and_filters_by_user(api, seed):
    seed(3, enrollment_type="device")
    first = api("GET", "/migration?limit=2").json()
    assert len(first["devices"]) == 2 and first["next"]
    rest = api("GET", f"/migration?limit=2&cursor={first['next']}").json()
    assert len(rest["devices"]) == 1 and rest["next"] is None
    assert [d["managed_apple_id"] for d in api("GET", "/migration?user=user1@").json()["devices"]] == ["user1@example.org"]


# -- the admin page ---------------------------------------------------------------------------------------------


def _post(client, path, data, page="/admin/migration"):
    token = csrf_token_from(client.get(page).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def test_admin_marks_notified_then_confirms_the_un_enrollment_and_sees_the_history(app, admin_client, enroll,
                                                                                   device_http):
    legacy = enroll("device", "lee@example.org")
    device_id = _id(app, legacy)
    page = admin_client.get("/admin/migration").get_data(as_text=True)
    assert 'data-state="legacy">1<' in page and "lee@example.org" in page

    _post(admin_client, "/admin/migration/devices", {"action": "notify", "device_id": str(device_id)})
    confirm = _post(admin_client, "/admin/migration/devices", {"action": "unenroll", "device_id": str(device_id)})
    text = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "managed apps" in text and "Sign In to Work or School Account" in text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Command)
                                 .where(Command.request_type == "RemoveProfile")) == 0, "nothing before confirming"
    done = admin_client.post("/admin/migration/devices", data={"csrf_token": csrf_token_from(text), "action": "unenroll",
                                                              "device_id": str(device_id), "confirm": "yes"})
    assert done.status_code == 303 and "/admin/bulk/" in done.location
    legacy.poll(device_http)
    history = admin_client.get(f"/admin/migration/{device_id}").get_data(as_text=True)
    for line in ("Marked as notified by admin@example.org", "Un-enrollment sent", "acknowledged the removal",
                 "checked out"):
        assert line in history
    assert 'data-state="unenrolled">1<' in admin_client.get("/admin/migration").get_data(as_text=True)
    assert "Migration to User Enrollment" in admin_client.get("/admin/").get_data(as_text=True)


def test_admin_bulk_by_filter_never_reaches_user_enrollments(app, admin_client, seed):
    legacy = seed(3, enrollment_type="device")
    user_enrolled = seed(2, enrollment_type="user")
    page = admin_client.get("/admin/migration").get_data(as_text=True)
    confirm = admin_client.post("/admin/migration/devices", data={"csrf_token": csrf_token_from(page), "action": "unenroll",
                                                                  "scope": "filter", "state": "", "user": ""})
    text = confirm.get_data(as_text=True)
    assert "3 legacy devices" in text
    admin_client.post("/admin/migration/devices", data={"csrf_token": csrf_token_from(text), "action": "unenroll",
                                                       "scope": "filter", "state": "", "user": "", "confirm": "yes"})
    with app.app_context():
        targets = set(db.session.scalars(select(Command.device_id).where(Command.request_type == "RemoveProfile")))
    assert targets == set(legacy) and not targets & set(user_enrolled)


def test_admin_selection_with_a_user_enrollment_sends_nothing(app, admin_client, seed):
    legacy, = seed(1, enrollment_type="device")
    user_enrolled, = seed(1, enrollment_type="user")
    response = _post(admin_client, "/admin/migration/devices", {"action": "unenroll", "confirm": "yes",
                                                               "device_id": [str(legacy), str(user_enrolled)]})
    assert response.status_code == 303
    assert "Nothing was sent" in admin_client.get("/admin/migration").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Command)) == 0


def test_stalled_threshold_is_a_validated_setting(app, admin_client):
    _post(admin_client, "/admin/migration/settings", {"stalled_after_days": "0"})
    assert "from 1 to 365" in admin_client.get("/admin/migration").get_data(as_text=True)
    _post(admin_client, "/admin/migration/settings", {"stalled_after_days": "3"})
    assert 'name="stalled_after_days" value="3"' in admin_client.get("/admin/migration").get_data(as_text=True)


# -- the employee ---------------------------------------------------------------------------------------------


def test_employee_with_a_legacy_device_sees_the_migration_steps_and_that_counts_as_notified(app, client, seed):
    demo_sign_in(client, next_path="/me/")
    with app.app_context():
        user = db.session.scalar(select(EndUser))
        legacy, = seed(1, enrollment_type="device", managed_apple_id=user.managed_apple_id, device_name="Old iPhone")
        seed(1, enrollment_type="device", managed_apple_id="someone@example.org")
    for path in ("/enroll", "/me/"):
        page = client.get(path).get_data(as_text=True)
        assert "Move your device to User Enrollment" in page and "Old iPhone" in page
        assert "Sign In to Work or School Account" in page and "Remove Management" in page
    with app.app_context():
        assert counts()["notified"] == 1 and counts()["legacy"] == 1
        assert db.session.get(LegacyMigration, legacy).notice_seen_at is not None
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "migration.notice_seen")) == 1, "recorded once"


def test_employee_without_legacy_devices_sees_no_notice(app, client, seed):
    demo_sign_in(client, next_path="/me/")
    with app.app_context():
        user = db.session.scalar(select(EndUser))
        seed(1, enrollment_type="user", managed_apple_id=user.managed_apple_id)
    assert "Move your device" not in client.get("/enroll").get_data(as_text=True)
    assert "Move your device" not in client.get("/me/").get_data(as_text=True)
