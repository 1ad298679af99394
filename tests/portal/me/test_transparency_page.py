"""The employee's /me page shows exactly what the server holds about their own devices."""
import re

from sqlalchemy import select

from portal.extensions import db
from portal.inventory.disclosure import holdings, holdings_for, holdings_of
from portal.models import (AuditEvent, Command, DdmEnrollment, DeclarationStatus, Device, DeviceAccount, DeviceApp,
                           DeviceInventory, EndUser, InventoryChange)
from portal.models.base import utcnow
from tests.helpers import demo_sign_in, page_statements


def test_signed_in_employee_sees_their_devices_with_the_admins_fields_and_nothing_forbidden(app, client, seed,
                                                                                           admin_client):
    assert client.get("/me/").status_code == 302, "sign-in first"
    demo_sign_in(client, next_path="/me/")
    with app.app_context():
        user = db.session.scalar(select(EndUser))
        mine, = seed(1, managed_apple_id=user.managed_apple_id, device_name="Alice's iPhone")
        theirs, = seed(1, managed_apple_id="someone-else@example.org", device_name="Bob's iPhone")
        db.session.add(DeviceInventory(device_id=mine, facts={"OSVersion": "17.5.1", "SerialNumber": "F2LXSECRET"},
                                       security={}))
        db.session.add(DeviceAccount(device_id=mine, identifier="mail.incoming/m1", account_type="mail.incoming",
                                     declaration_identifier="work.mail", visible_name="Work mail",
                                     hostname="imap.example.org", status_identifier="mail.incoming/m1"))
        db.session.commit()
        admin_labels = [label for label, _ in holdings(db.session.get(Device, mine)).facts]
    page = client.get("/me/").get_data(as_text=True)
    assert "Alice&#39;s iPhone" in page and "Bob" not in page
    assert "F2LXSECRET" not in page, "a forbidden field never shows, even if stored"
    assert admin_labels == ["iOS version"] and "iOS version" in page
    assert "Remove Management" in page
    assert "Accounts installed by the organisation" in page and "Work mail" in page and "imap.example.org" in page
    admin_page = admin_client.get(f"/admin/devices/{mine}").get_data(as_text=True)
    assert "F2LXSECRET" not in admin_page and "iOS version" in admin_page


def test_me_reads_every_device_in_the_same_statements_and_keeps_each_devices_history_apart(app, client, seed):
    demo_sign_in(client, next_path="/me/")
    with app.app_context():
        apple_id = db.session.scalar(select(EndUser)).managed_apple_id
    few = seed(3, managed_apple_id=apple_id)
    statements = len(page_statements(app, client, "/me/"))
    many = seed(27, managed_apple_id=apple_id)
    assert len(page_statements(app, client, "/me/")) == statements, "not a set of queries per device"
    with app.app_context():
        db.session.add_all([Command(command_uuid=f"C-{device}-{index}", device_id=device, request_type="ProfileList",
                                    payload=b"") for device in (few[0], many[0]) for index in range(4)])
        db.session.add(DeviceApp(device_id=few[1], identifier="com.example.work", name="Work"))
        db.session.commit()
        held = {h.device.id: h for h in holdings_for(db.session.get(EndUser, db.session.scalar(select(EndUser.id))))}
        assert [c.command_uuid for c in held[few[0]].commands] == [f"C-{few[0]}-{i}" for i in (3, 2, 1, 0)]
        assert len(held[many[0]].commands) == 4 and not held[few[2]].commands
        assert [a.identifier for a in held[few[1]].apps] == ["com.example.work"] and not held[few[0]].apps
        limited = holdings_of([held[few[0]].device, held[many[0]].device], history=2)
        assert [[c.command_uuid for c in h.commands] for h in limited] == [
            [f"C-{few[0]}-3", f"C-{few[0]}-2"], [f"C-{many[0]}-3", f"C-{many[0]}-2"]]


def test_what_status_reports_left_is_on_the_employees_page_too(app, client, seed):
    """The admin's management card shows a reported passcode, each declaration's state and the status errors: so
    does the owner's page, escaped (the device wrote them)."""
    demo_sign_in(client, next_path="/me/")
    hostile = '<script>alert("x")</script>'
    with app.app_context():
        apple_id = db.session.scalar(select(EndUser)).managed_apple_id
        reporting, silent = seed(2, managed_apple_id=apple_id)
        db.session.add(DdmEnrollment(device_id=reporting, stale=False, enabled_at=utcnow(), last_status_at=utcnow(),
                                     passcode_present=True, errors=[{"StatusItem": "account.list.mail.incoming",
                                                                     "Reasons": [{"Code": "Error.Unavailable"}]}]))
        db.session.add(DeclarationStatus(device_id=reporting, identifier="work.passcode", server_token="t",
                                         active=False, valid="invalid",
                                         reasons=[{"Code": "Error.ConfigurationCannotBeApplied", "Description": hostile}]))
        db.session.add(DdmEnrollment(device_id=silent, stale=False, enabled_at=utcnow()))
        db.session.commit()
    page = client.get("/me/").get_data(as_text=True)
    assert page.count("data-declarative") == 1, "a device that never reported has nothing of it held"
    section = page[page.index("data-declarative"):]
    assert "Passcode set" in section and "<span data-passcode-present>yes</span>" in section
    assert "work.passcode" in section and "inactive, invalid" in section and "Error.ConfigurationCannotBeApplied" in section
    assert hostile not in page and "&lt;script&gt;" in section
    assert "account.list.mail.incoming" in section and "Error.Unavailable" in section
    german = client.get("/me/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Von der Organisation festgelegte Einstellungen" in german and "inaktiv, ungültig" in german


def _former_holder(app, **person) -> int:
    """Another person who held alice@example.org before (a different IdP subject; the address was given anew)."""
    with app.app_context():
        former = EndUser(issuer=app.config["PUBLIC_URL"] + "/demo-idp", subject="former-alice",
                         managed_apple_id="alice@example.org", email="alice@example.org", name="Former Alice",
                         groups=[], **person)
        db.session.add(former)
        db.session.commit()
        return former.id


def test_another_persons_device_with_the_same_managed_apple_id_is_not_the_employees(app, client, seed, admin_client):
    """Devices were matched by account or Managed Apple ID: /me showed the former holder's phone and its apps, and
    a visit to /enroll marked that person's legacy device's migration notice seen."""
    former_id = _former_holder(app, offboarded_at=utcnow())
    theirs, = seed(1, managed_apple_id="alice@example.org", user_id=former_id, device_name="Former Alice's iPhone")
    legacy, = seed(1, enrollment_type="device", managed_apple_id="alice@example.org", user_id=former_id)
    minted, = seed(1, managed_apple_id="alice@example.org", device_name="Alice's API-made iPhone")  # no account
    with app.app_context():
        db.session.add(DeviceApp(device_id=theirs, identifier="com.example.secret", name="Secret Work App"))
        db.session.commit()
    demo_sign_in(client, user="demo-alice", next_path="/me/")
    page = client.get("/me/").get_data(as_text=True)
    assert "Former Alice" not in page and "Secret Work App" not in page
    assert "Alice&#39;s API-made iPhone" in page, "an enrollment made with no account is the Managed Apple ID's"
    client.get("/enroll")
    with app.app_context():
        seen = db.session.scalars(select(AuditEvent.action).where(AuditEvent.target_id == str(legacy))).all()
        alice = db.session.scalar(select(EndUser).where(EndUser.subject == "demo-alice"))
    assert "migration.notice_seen" not in seen
    person_page = admin_client.get(f"/admin/people/{alice.id}").get_data(as_text=True)
    assert "Former Alice" not in person_page and f"/admin/devices/{minted}" in person_page


def test_the_new_holder_of_an_address_does_not_see_the_previous_holders_api_enrolled_phone(app, client, enroll):
    """A device enrolled with a profile the API minted (no account, only a Managed Apple ID) is the phone of the
    person who held the address when it enrolled: the person who gets the address next does not see it."""
    with app.app_context():  # Alice (at the IdP "old-alice") holds alice@example.org and has signed in before
        db.session.add(EndUser(issuer="http://127.0.0.1/demo-idp", subject="old-alice",
                               managed_apple_id="alice@example.org", email="alice@example.org", name="Alice Old"))
        db.session.commit()
    phone = enroll("user", "alice@example.org")  # IT enrolls her phone with a profile the API minted
    with app.app_context():  # she is renamed at the IdP; the address goes to a new colleague
        old = db.session.scalar(select(EndUser).where(EndUser.subject == "old-alice"))
        old.managed_apple_id = old.email = "alice.old@example.org"
        db.session.commit()
        device = db.session.scalar(select(Device))
        assert device.enrollment_id == phone.enrollment_id
    demo_sign_in(client, next_path="/me/")  # demo-alice: the new holder of alice@example.org
    with app.app_context():
        assert db.session.scalar(select(EndUser).where(EndUser.subject == "demo-alice")) is not None
    page = client.get("/me/").get_data(as_text=True)
    assert phone.enrollment_id not in page, "the new holder sees the previous holder's phone"


def test_a_phone_enrolled_before_anyone_held_the_address_is_the_first_holders_only(app, client, enroll):
    phone = enroll("user", "alice@example.org")  # nobody has signed in with alice@example.org yet
    demo_sign_in(client, next_path="/me/")  # demo-alice: the first to take the address, so the phone is hers
    assert phone.enrollment_id in client.get("/me/").get_data(as_text=True)
    with app.app_context():  # she is renamed at the IdP; the address goes to a new colleague
        first = db.session.scalar(select(EndUser).where(EndUser.subject == "demo-alice"))
        assert db.session.scalar(select(Device.user_id)) == first.id
        first.subject, first.managed_apple_id = "alice-renamed", "alice.old@example.org"
        db.session.commit()
    newcomer = app.test_client()
    demo_sign_in(newcomer, next_path="/me/")
    assert phone.enrollment_id not in newcomer.get("/me/").get_data(as_text=True)


def _me_with_two_devices(app, client, seed) -> str:
    """The signed-in person's /me with two of their devices, a "Work iPhone" and an "Old iPad"."""
    demo_sign_in(client, next_path="/me/")
    with app.app_context():
        apple_id = db.session.scalar(select(EndUser)).managed_apple_id
    seed(1, managed_apple_id=apple_id, device_name="Work iPhone")
    seed(1, managed_apple_id=apple_id, device_name="Old iPad")
    return client.get("/me/").get_data(as_text=True)


def test_each_devices_sections_are_headed_below_its_own_heading(app, client, seed):
    """A screen reader's heading list tells one device's "Enrollment" or "Certificates" from the next device's
    (WCAG 1.3.1, 2.4.6): each device's sections are headed below that device's heading."""
    page = _me_with_two_devices(app, client, seed)
    articles = re.findall(r'<article class="device-holdings"[^>]*>(.*?)</article>', page, re.S)
    assert len(articles) == 2
    for article in articles:
        levels = [int(level) for level in re.findall(r"<h([1-6])\b", article)]
        device_level, section_levels = levels[0], levels[1:]
        assert section_levels, article[:200]
        shallow = [level for level in section_levels if level <= device_level]
        assert not shallow, (f"the device is an h{device_level} but {len(shallow)} of its sections are headed at the "
                             f"same level (h{shallow[0]}): they read as new devices, not parts of this one")


def test_each_device_is_named_by_its_heading_and_its_regions_apart_from_the_next_devices(app, client, seed):
    page = _me_with_two_devices(app, client, seed)
    named = re.findall(r'<article class="device-holdings" aria-labelledby="([^"]+)">\s*<h2 id="([^"]+)">', page)
    assert len(named) == 2 and all(label == heading for label, heading in named)
    regions = re.findall(r'<section class="card"[^>]*\baria-labelledby="([^"]+)"', page)
    per_device = [ids for ids in regions if ids.split()[0] in {heading for _, heading in named}]
    assert len(per_device) == 2, "each device's work-settings region is named by the device too"
    assert len(set(regions)) == len(regions), f"two regions share a name: {regions}"


def test_a_forbidden_fact_in_the_stored_change_history_never_shows(app, client, seed, admin_client, api_token):
    """Facts are filtered again when shown (a row stored before a rule was tightened keeps what it let through),
    but the inventory changes beside them were shown as stored: a SerialNumber change, or an IMEI nested in an
    allowed fact, recorded then, was on the admin device page and in the API (the same holdings the employee's
    page reads)."""
    with app.app_context():
        mine, = seed(1)
        db.session.add_all([
            InventoryChange(device_id=mine, kind="facts", key="SerialNumber", old="F2LXOLDSECRET", new="F2LXSECRET"),
            InventoryChange(device_id=mine, kind="facts", key="OrganizationInfo", old=None,
                            new={"OrganizationName": "Example Org", "IMEI": "359999999999991"}),
            InventoryChange(device_id=mine, kind="security", key="PasscodePresent", old=False, new=True),
            InventoryChange(device_id=mine, kind="facts", key="OSVersion", old="17.5.1", new="17.6")])
        db.session.commit()
    token = api_token("reader", scopes=("read",))
    shown = {"admin": admin_client.get(f"/admin/devices/{mine}").get_data(as_text=True),
             "api": client.get(f"/api/v1/devices/{mine}", headers={"Authorization": f"Bearer {token}"}).get_data(as_text=True)}
    assert {where: ("17.6" in text, "Example Org" in text) for where, text in shown.items()} == {
        where: (True, True) for where in shown}, "the allowed changes show"
    assert {where: [secret for secret in ("F2LX", "359999999999991", "PasscodePresent") if secret in text]
            for where, text in shown.items()} == {where: [] for where in shown}
