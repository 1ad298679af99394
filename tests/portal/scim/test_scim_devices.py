"""Directory sync moves what is on people's phones, with simulated phones through the real queue: a group
change swaps group-scoped profiles without a sign-in; deactivation retires every enrollment (the phone removes
the managed volume and checks out), revokes pending grants and blocks sign-in; reactivation cancels what the
phones have not fetched."""
import pytest
from sqlalchemy import func, select

from mdm_core import queue
from mdm_core.simulator.device import SimulatedDevice, SimulatorError
from portal.extensions import db
from portal.models import Command, Device, EndUser, EnrollmentGrant, EnrollmentRetirement
from portal.models.base import utcnow
from portal.offboarding import steps
from tests.helpers import PROFILE_CORPUS, commit_while_waiting, demo_sign_in
from tests.portal.scim.bodies import create_group, create_user, guide_body

WIFI, CALDAV = "com.example.wifi.guest", "com.example.caldav"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def _upload(api, name):
    response = api("POST", "/profiles", data=(PROFILE_CORPUS / f"{name}.mobileconfig").read_bytes())
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["id"]


def _members(scim, group, op, user):
    body = {"schemas": [PATCH], "Operations": [{"op": op, "path": "members", "value": [{"value": user}]}]}
    assert scim("PATCH", f"/Groups/{group}", body).status_code == 204


def _requests(exchanges):
    return sorted((e.request_type, e.status) for e in exchanges)


def test_moving_a_person_between_groups_swaps_the_group_scoped_profile_without_a_sign_in(api, scim, enroll, device_http):
    alice = create_user(scim, "alice@example.org")
    sales, support = create_group(scim, "Sales", alice), create_group(scim, "Support")
    phone = enroll("user", "alice@example.org")
    for profile, group in ((_upload(api, "wifi-wpa2"), "Sales"), (_upload(api, "caldav"), "Support")):
        assert api("PUT", f"/profiles/{profile}/scope", json={"groups": [group]}).status_code == 200
    phone.poll(device_http)
    assert WIFI in phone.profiles and CALDAV not in phone.profiles

    _members(scim, sales, "Remove", alice)  # Entra's forms, capitalised
    _members(scim, support, "Add", alice)
    assert _requests(phone.poll(device_http)) == [("InstallProfile", "Acknowledged"), ("RemoveProfile", "Acknowledged")]
    assert CALDAV in phone.profiles and WIFI not in phone.profiles


def test_a_group_patch_of_many_members_is_set_based(app, scim):
    from sqlalchemy import event

    people = [create_user(scim, f"member{n}@example.com") for n in range(60)]
    group = create_group(scim, "Everyone")
    statements = []
    with app.app_context():
        listen = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listen)
        try:
            body = {"schemas": [PATCH], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": p} for p in people]}]}
            assert scim("PATCH", f"/Groups/{group}", body).status_code == 204
        finally:
            event.remove(db.engine, "before_cursor_execute", listen)
    assert len(statements) < 30, statements  # a constant number, not one (or more) per member
    assert len(scim("GET", f"/Groups/{group}").get_json()["members"]) == 60


def test_adding_a_member_never_reads_the_groups_members(app, scim):
    """Entra sends one operation per member: each add must not cost a read of the whole group."""
    from sqlalchemy import event

    people = [create_user(scim, f"member{n}@example.com") for n in range(4)]
    group = create_group(scim, "Everyone", *people[:3])
    statements = []
    with app.app_context():
        listen = lambda *args: statements.append(" ".join(args[2].split()))  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listen)
        try:
            body = {"schemas": [PATCH], "Operations": [{"op": "Add", "path": "members", "value": [{"value": p}]}
                                                       for p in people[2:]]}  # one already a member, one new
            assert scim("PATCH", f"/Groups/{group}", body).status_code == 204
        finally:
            event.remove(db.engine, "before_cursor_execute", listen)
    reads = [s for s in statements if s.startswith("SELECT") and "FROM group_memberships" in s]
    assert reads == [], reads
    with app.app_context():
        from portal.models import AuditEvent

        patched = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "scim.group.patched"))
        assert patched.detail["people_moved"] == 1, "only the new member moved"
    assert sorted(m["value"] for m in scim("GET", f"/Groups/{group}").get_json()["members"]) == sorted(people)


def test_deactivating_a_person_retires_every_enrollment_revokes_grants_and_blocks_sign_in(
        app, client, api, scim, enroll, device_http, monkeypatch):
    released = []
    monkeypatch.setattr(steps, "STEPS", (*steps.STEPS, lambda session, user_id: released.append(user_id)))
    assert demo_sign_in(client, "demo-bob", next_path="/me").status_code == 302  # enrolled before SCIM existed
    bob = create_user(scim, "bob@example.org")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(EndUser)) == 1, "one person, not two"
    phones = [enroll("user", "bob@example.org"), enroll("user", "bob@example.org")]
    for phone in phones:
        phone.managed_apps["com.example.corp.mail"] = "Corp Mail"
    pending = api("POST", "/enrollment-profiles", json={"enrollment_type": "user", "managed_apple_id": "bob@example.org"})
    assert pending.status_code == 201

    assert client.get("/me/").status_code == 200
    assert scim("PATCH", f"/Users/{bob}", guide_body("entra_disable_user")).get_json()["active"] is False
    with app.app_context():
        person = db.session.scalar(select(EndUser).where(EndUser.scim_id == bob))
        assert released == [person.id], "every registered offboarding step ran (license release plugs in here)"
        assert db.session.scalar(select(func.count()).select_from(EnrollmentRetirement)) == 2
        assert all(g.challenge_expires_at <= utcnow() for g in db.session.scalars(
            select(EnrollmentGrant).where(EnrollmentGrant.challenge_used_at.is_(None))))
    assert client.get("/me/").status_code == 302, "the session ended"
    refused = demo_sign_in(client, "demo-bob", next_path="/me")
    assert refused.status_code == 403 and "offboarded" in refused.get_data(as_text=True)

    for phone in phones:
        assert _requests(phone.poll(device_http)) == [("RemoveProfile", "Acknowledged")]
        assert phone.settings is None and phone.profiles == {} and phone.managed_apps == {}, "managed volume gone"
        assert set(phone.personal_apps) == {"com.example.personal.game", "com.example.personal.chat"}
    with app.app_context():
        statuses = db.session.scalars(select(Device.status)).all()
    assert statuses == ["unenrolled", "unenrolled"], "unenrolled at CheckOut"


def test_a_user_cannot_move_onto_the_managed_apple_id_of_someone_who_signed_in(app, client, scim):
    """Only create() joined the directory's user to a person who signed in: a PUT or PATCH moving a user onto
    that person's Managed Apple ID left two rows for it, so deactivating the user left the person's session and
    sign-in working. The move is now refused (409); provisioning the person again joins the two."""
    assert demo_sign_in(client, "demo-bob", next_path="/me/").status_code == 302
    robert = create_user(scim, "robert@example.org")
    moves = (("PATCH", {"schemas": [PATCH], "Operations": [
                 {"op": "replace", "path": "userName", "value": "bob@example.org"},
                 {"op": "replace", "path": 'emails[type eq "work"].value', "value": "bob@example.org"}]}),
             ("PUT", {"schemas": [USER], "userName": "Bob@example.org"}))
    for method, body in moves:
        refused = scim(method, f"/Users/{robert}", body)
        assert refused.status_code == 409 and refused.get_json()["scimType"] == "uniqueness", refused.get_json()
    with app.app_context():
        holders = db.session.scalars(select(EndUser.scim_id).where(EndUser.managed_apple_id == "bob@example.org"))
        assert holders.all() == [None], "Bob's own row alone"
    assert scim("DELETE", f"/Users/{robert}").status_code == 204
    bob = create_user(scim, "bob@example.org")
    assert scim("PATCH", f"/Users/{bob}", guide_body("entra_disable_user")).get_json()["active"] is False
    assert client.get("/me/").status_code == 302, "the session ended"
    assert demo_sign_in(client, "demo-bob", next_path="/me/").status_code == 403


def test_a_change_keeping_the_managed_apple_id_is_not_refused_over_a_row_that_came_to_share_it(app, client, scim):
    """Only a move onto another row's Managed Apple ID is refused: a person whose sign-in renamed them onto a
    directory user's ID must not stop the directory from changing (or deactivating) that user."""
    assert demo_sign_in(client, "demo-bob", next_path="/me/").status_code == 302
    robert = create_user(scim, "robert@example.org")
    with app.app_context():
        db.session.execute(EndUser.__table__.update().where(EndUser.scim_id.is_(None))
                           .values(managed_apple_id="robert@example.org"))
        db.session.commit()
    body = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": "Robert"}]}
    assert scim("PATCH", f"/Users/{robert}", body).status_code == 200


def test_reactivating_before_the_phone_answered_cancels_the_unsent_retirement(app, scim, enroll, device_http):
    carol = create_user(scim, "carol@example.org")
    fetched, waiting = enroll("user", "carol@example.org"), enroll("user", "carol@example.org")
    assert scim("PATCH", f"/Users/{carol}", guide_body("okta_deactivate_user")).status_code == 200
    with app.app_context():  # the first phone fetched its RemoveProfile but has not answered yet
        first = db.session.scalar(select(Device.id).where(Device.enrollment_id == fetched.enrollment_id))
        db.session.execute(Command.__table__.update().where(Command.device_id == first, Command.request_type == "RemoveProfile")
                           .values(status=queue.SENT))
        db.session.commit()
    body = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": True}}]}
    assert scim("PATCH", f"/Users/{carol}", body).get_json()["active"] is True
    assert waiting.poll(device_http) == [] and waiting.settings is not None, "nothing left for the waiting phone"
    with app.app_context():
        commands = dict(db.session.execute(select(Command.device_id, Command.status)
                                           .where(Command.request_type == "RemoveProfile")).all())
        assert commands[first] == queue.SENT and sorted(commands.values()) == [queue.ERROR, queue.SENT]
        assert db.session.scalars(select(EnrollmentRetirement.device_id)).all() == [first], "a sent one stays"


def test_reactivation_cancels_every_unsent_retirement_in_a_constant_number_of_statements(app, scim, enroll):
    from sqlalchemy import event

    dave = create_user(scim, "dave@example.org")
    for _ in range(3):
        enroll("user", "dave@example.org")
    assert scim("PATCH", f"/Users/{dave}", guide_body("okta_deactivate_user")).status_code == 200
    statements = []
    with app.app_context():
        person = db.session.scalar(select(EndUser).where(EndUser.scim_id == dave))
        listen = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listen)
        try:
            assert steps.cancel_unsent_retirements(db.session, person.id) == (3, 0)
            db.session.flush()
        finally:
            event.remove(db.engine, "before_cursor_execute", listen)
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(EnrollmentRetirement)) == 0
        assert db.session.scalars(select(Command.status).where(Command.request_type == "RemoveProfile")).all() == [
            queue.ERROR] * 3
    assert len(statements) <= 3, statements  # count, cancel, delete: not one (or more) per device


def _phone_with_identity(api, device_http, managed_apple_id):
    """A phone that installed an enrollment profile minted for ``managed_apple_id`` and got its SCEP certificate."""
    minted = api("POST", "/enrollment-profiles", json={"enrollment_type": "user", "managed_apple_id": managed_apple_id})
    assert minted.status_code == 201
    phone = SimulatedDevice(enrollment_type="user")
    phone.accept_profile(minted.data)
    phone.obtain_identity(device_http)
    return phone


def _answer(phone, message, device_http) -> str:
    """How the server answered a check-in: "200", or the refusal's status and text."""
    try:
        return str(phone.checkin(message, device_http).status_code)
    except SimulatorError as exc:
        return str(exc).partition(" answered ")[2].strip()


REFUSED = "403: the person this enrollment is for was offboarded"


def _devices_and_commands(app):
    with app.app_context():
        return (db.session.scalars(select(Device.status)).all(),
                db.session.scalars(select(Command.request_type)).all())


@pytest.mark.parametrize("deactivated", ["after_scep", "after_authenticate"])
def test_a_phone_enrolling_for_a_deactivated_person_is_refused_before_it_is_enrolled(
        app, api, scim, device_http, deactivated):
    """Offboarding retires enrolled devices and revokes unused challenges only: a phone with its certificate, or
    authenticated and pending, used to finish enrolling (TokenUpdate 200, inventory queued, no retirement)."""
    erin = create_user(scim, "erin@example.org")
    phone = _phone_with_identity(api, device_http, "erin@example.org")
    if deactivated == "after_scep":
        assert scim("PATCH", f"/Users/{erin}", guide_body("entra_disable_user")).status_code == 200
        assert _answer(phone, phone.authenticate_message(), device_http) == REFUSED
        assert _devices_and_commands(app) == ([], [])
    else:
        assert phone.checkin(phone.authenticate_message(), device_http).status_code == 200
        assert scim("PATCH", f"/Users/{erin}", guide_body("entra_disable_user")).status_code == 200
        assert _answer(phone, phone.token_update_message(), device_http) == REFUSED
        assert _devices_and_commands(app) == (["pending"], [])


@pytest.mark.postgres_only("a race between two transactions")
@pytest.mark.parametrize("step", ["authenticate", "token_update"])
def test_a_phones_check_in_beside_its_persons_offboarding_waits_for_it_and_is_refused(
        app, api, scim, device_http, step):
    """The check-in read the person unlocked: one during an offboarding went through after it, and the phone
    stayed enrolled with no retirement queued. It now waits on the person's row and sees the offboarding."""
    from portal.offboarding.actions import offboard

    create_user(scim, "fred@example.org")
    phone = _phone_with_identity(api, device_http, "fred@example.org")
    if step == "token_update":
        assert phone.checkin(phone.authenticate_message(), device_http).status_code == 200
    message = phone.authenticate_message() if step == "authenticate" else phone.token_update_message()
    answers = []
    with app.app_context():  # the offboarding has written fred's row, not yet committed
        offboard(db.session, db.session.scalar(select(EndUser)), "deactivated")
        commit_while_waiting(app, lambda: answers.append(_answer(phone, message, device_http)))
    assert answers == [REFUSED]
    assert _devices_and_commands(app) == ([] if step == "authenticate" else ["pending"], [])


def test_moving_a_person_to_another_managed_apple_id_re_scopes_the_phones_enrolled_with_the_old_one(
        app, api, scim, enroll, device_http):
    """A group target matches phones by their Managed Apple ID. A directory change moving a person onto a new ID
    re-scoped only the phones carrying the new one: the phone enrolled with the old ID (still the person's) had
    left the group's scope but kept its group-scoped profile until something unrelated re-scoped it."""
    alice = create_user(scim, "alice@example.org")
    create_group(scim, "Sales", alice)
    phone = enroll("user", "alice@example.org")
    assert api("PUT", f"/profiles/{_upload(api, 'wifi-wpa2')}/scope", json={"groups": ["Sales"]}).status_code == 200
    phone.poll(device_http)
    assert WIFI in phone.profiles

    body = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "userName", "value": "alice.smith@example.org"},
                                               {"op": "replace", "path": "emails", "value": [
                                                   {"value": "alice.smith@example.org", "primary": True}]}]}
    moved = scim("PATCH", f"/Users/{alice}", body)
    assert moved.status_code == 200, moved.get_data(as_text=True)
    assert ("RemoveProfile", "Acknowledged") in _requests(phone.poll(device_http))
    assert WIFI not in phone.profiles


def test_renaming_a_group_to_a_name_a_scope_already_names_installs_that_scope_on_its_members_phones(
        api, scim, enroll, device_http):
    """A rename moved the scope targets naming the old name, and so re-scoped nobody. A scope that already named
    the new name (set up before the directory renamed the group) now reached the group's members, but their phones
    did not get its profile until something unrelated re-scoped them."""
    alice = create_user(scim, "alice@example.org")
    group = create_group(scim, "Sales", alice)
    phone = enroll("user", "alice@example.org")
    assert api("PUT", f"/profiles/{_upload(api, 'wifi-wpa2')}/scope", json={"groups": ["Sales EMEA"]}).status_code == 200
    phone.poll(device_http)
    assert WIFI not in phone.profiles

    assert scim("PATCH", f"/Groups/{group}", guide_body("entra_rename_group")).status_code == 204
    assert _requests(phone.poll(device_http)) == [("InstallProfile", "Acknowledged")]
    assert WIFI in phone.profiles
