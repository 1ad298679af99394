"""The issue's acceptance with simulated phones (``mdm_core.simulator``'s DDM client) through the real
check-in, queue and API: what reaches whom, what is fetched again, what is reported and stored."""
import re
from datetime import timedelta

from sqlalchemy import func, select

from mdm_core.simulator.device import Behaviour
from portal.api.serializers import iso
from portal.extensions import db
from portal.inventory.records import apply_report
from portal.inventory.sweep import run_sweep
from portal.models import Command, DdmEnrollment, DeclarationStatus, Device, DeviceInventory
from portal.models.base import utcnow
from tests.portal.declarations.conftest import IDENTITY, MAIL


def statuses(app, phone):
    with app.app_context():
        device_id = db.session.scalar(select(Device.id).where(Device.enrollment_id == phone.identifier))
        return {s.identifier: s for s in db.session.scalars(select(DeclarationStatus)
                                                             .where(DeclarationStatus.device_id == device_id))}


def db_id(app, phone):
    with app.app_context():
        return db.session.scalar(select(Device.id).where(Device.enrollment_id == phone.identifier))


def device_information_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Command)
                                 .where(Command.request_type == "DeviceInformation"))


def test_a_group_scoped_mail_account_reaches_that_group_is_refetched_alone_after_an_edit_and_goes(
        app, api, enroll, device_http, declare, sign_in_with_groups):
    sign_in_with_groups("demo-alice", "sales")
    alice, carol = enroll("user", "alice@example.org"), enroll("user", "carol@example.org")
    assert alice.ddm.reports and alice.ddm.reports[0]["FullReport"], "enrollment turned DDM on: a first full report"
    assert statuses(app, alice)["portal.status-subscriptions"].active
    declare("com.apple.asset.useridentity", IDENTITY, "example.identity")
    mail = declare("com.apple.configuration.account.mail", MAIL, "example.mail")
    passcode = declare("com.apple.configuration.passcode.settings", {"MinimumLength": 4}, "example.passcode")
    for declaration in (mail, passcode):
        api("PUT", f"/declarations/{declaration['id']}/scope", json={"groups": ["sales"]})
    for phone in (alice, carol):
        phone.poll(device_http)
    assert alice.ddm.state_of("example.mail")["active"] and "example.identity" in alice.ddm.held
    assert "example.mail" not in carol.ddm.held and "example.mail" not in statuses(app, carol)
    stored = statuses(app, alice)
    assert stored["example.mail"].active and stored["example.mail"].valid == "valid"

    fetched = len(alice.ddm.fetched)
    api("PUT", f"/declarations/{mail['id']}", json={"payload": {**MAIL, "VisibleName": "Sales mail"}})
    alice.poll(device_http)
    assert alice.ddm.fetched[fetched:] == ["example.mail"], "only the edited declaration is fetched again"
    assert alice.ddm.held["example.mail"].payload["VisibleName"] == "Sales mail"

    api("PUT", f"/declarations/{mail['id']}/scope", json={})
    alice.poll(device_http)
    assert "example.mail" not in alice.ddm.held and "example.identity" not in alice.ddm.held
    assert set(statuses(app, alice)) == {"portal.status-subscriptions", "portal.activation", "example.passcode"}, \
        "the device reported the mail account gone"


def test_status_reports_keep_inventory_current_without_device_information(app, api, enroll, device_http, declare,
                                                                          admin_client):
    phone = enroll("user")
    before = device_information_count(app)
    strict = declare("com.apple.configuration.passcode.settings", {"MinimumLength": 10}, "example.strict")
    api("PUT", f"/declarations/{strict['id']}/scope", json={"all_user_enrolled": True})
    phone.os_version, phone.build_version = "17.6", "21G80"
    phone.poll(device_http)
    with app.app_context():
        device = db.session.scalar(select(Device))
        ddm = db.session.get(DdmEnrollment, device.id)
        assert (device.os_version, device.build_version) == ("17.6", "21G80")
        assert ddm.passcode_compliant is False
    assert device_information_count(app) == before, "no DeviceInformation command for it"
    page = admin_client.get(f"/admin/devices/{device.id}").get_data(as_text=True)
    assert "17.6" in page and "not compliant" in page


def test_the_device_page_shows_the_newer_of_what_status_reports_and_inventory_commands_said(
        app, api, enroll, device_http, declare, admin_client):
    phone = enroll("user")
    strict = declare("com.apple.configuration.passcode.settings", {"MinimumLength": 10}, "example.strict")
    api("PUT", f"/declarations/{strict['id']}/scope", json={"all_user_enrolled": True})
    enrolled_with = (phone.os_version, phone.build_version)
    phone.os_version, phone.build_version = "17.6", "21G80"
    phone.poll(device_http)
    device_id = db_id(app, phone)

    # the enrollment's DeviceInformation said 17.5.1 and SecurityInfo "compliant": the report said otherwise since
    page = admin_client.get(f"/admin/devices/{device_id}").get_data(as_text=True)
    card = page.split("<h2>Device information</h2>", 1)[1].split("</section>", 1)[0]
    assert "17.6" in card and "21G80" in card and not any(old in card for old in enrolled_with)
    assert re.search(r"Passcode compliant</dt><dd>False", card)
    inventory = api("GET", f"/devices/{device_id}").get_json()["inventory"]
    assert (inventory["facts"]["OSVersion"], inventory["facts"]["BuildVersion"]) == ("17.6", "21G80")
    assert inventory["security"]["PasscodeCompliant"] is False

    # the next scheduled round asks again (its answers keep the change history); then the phone reports an update
    with app.app_context():
        assert run_sweep(now=utcnow() + timedelta(days=2)) == 1
    phone.poll(device_http)
    security = api("GET", f"/devices/{device_id}").get_json()["inventory"]["security"]
    assert security["PasscodeCompliant"] is False, "SecurityInfo, newer than the report, says so too"
    phone.os_version = "17.6.1"
    assert phone.ddm.report(phone, device_http) and not phone.ddm.reports[-1]["FullReport"]
    inventory = api("GET", f"/devices/{device_id}").get_json()["inventory"]
    assert (inventory["facts"]["OSVersion"], inventory["facts"]["DeviceName"]) == ("17.6.1", "Simulated iPhone")
    with app.app_context():
        assert db.session.get(DeviceInventory, device_id).facts["OSVersion"] == "17.6", "the round's answer is kept"
        assert inventory["updated_at"] == iso(db.session.get(DdmEnrollment, device_id).last_status_at)

    # a SecurityInfo answer newer than the last report is what the page shows
    with app.app_context():
        apply_report(db.session.connection(), device_id, "SecurityInfo",
                     {"SecurityInfo": {"PasscodeCompliant": True}}, utcnow() + timedelta(seconds=5))
        db.session.commit()
    assert api("GET", f"/devices/{device_id}").get_json()["inventory"]["security"]["PasscodeCompliant"] is True


def test_a_report_without_passcode_compliance_leaves_a_newer_security_info_answer_shown(
        app, api, enroll, device_http, declare, admin_client):
    phone = enroll("user")
    strict = declare("com.apple.configuration.passcode.settings", {"MinimumLength": 10}, "example.strict")
    api("PUT", f"/declarations/{strict['id']}/scope", json={"all_user_enrolled": True})
    phone.poll(device_http)
    device_id = db_id(app, phone)
    assert api("GET", f"/devices/{device_id}").get_json()["inventory"]["security"]["PasscodeCompliant"] is False

    # the user changes the passcode; a SecurityInfo answer says so; then the phone reports only an OS update
    with app.app_context():
        apply_report(db.session.connection(), device_id, "SecurityInfo",
                     {"SecurityInfo": {"PasscodeCompliant": True}}, utcnow())
        db.session.commit()
    phone.os_version = "17.6.1"
    assert phone.ddm.report(phone, device_http)
    told = phone.ddm.reports[-1]
    assert not told["FullReport"] and "passcode" not in told["StatusItems"]
    inventory = api("GET", f"/devices/{device_id}").get_json()["inventory"]
    assert inventory["facts"]["OSVersion"] == "17.6.1"
    assert inventory["security"]["PasscodeCompliant"] is True, "the report said nothing of the passcode"
    card = admin_client.get(f"/admin/devices/{device_id}").get_data(as_text=True).split(
        "<h2>Device information</h2>", 1)[1].split("</section>", 1)[0]
    assert re.search(r"Passcode compliant</dt><dd>True", card)
    with app.app_context():
        reported_at = db.session.get(DdmEnrollment, device_id).passcode_reported_at
    ddm_card = admin_client.get(f"/admin/devices/{device_id}").get_data(as_text=True).split(
        'id="management-path"', 1)[1].split("</section>", 1)[0]
    assert re.search(rf"<span [^>]*data-passcode-reported>compliance reported {reported_at:%Y-%m-%d %H:%M} UTC<",
                     ddm_card), "the report's own word, dated"

    # a report that carries compliance again is newer than the answer
    assert phone.ddm.report(phone, device_http, full=True)
    assert api("GET", f"/devices/{device_id}").get_json()["inventory"]["security"]["PasscodeCompliant"] is False


def test_a_phone_that_volunteers_its_serial_number_has_none_of_it_stored(app, enroll, device_http):
    phone = enroll("user", behaviour=Behaviour(hostile=True))
    assert phone.ddm.reports, "the phone reported status"
    with app.app_context():
        dump = repr([list(row) for table in ("devices", "ddm_enrollments", "declaration_statuses", "device_inventories")
                     for row in db.session.execute(db.text(f"SELECT * FROM {table}"))])
    assert phone.serial_number not in dump and phone.udid not in dump


def test_an_ios_14_user_enrollment_keeps_the_command_path(app, enroll):
    phone = enroll("user", os_version="14.8")
    assert not phone.ddm.reports
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DdmEnrollment)) == 0
        assert db.session.scalar(select(func.count()).select_from(Command)
                                 .where(Command.request_type == "DeclarativeManagement")) == 0


def test_leaving_the_group_at_the_idp_takes_the_declaration_off_the_phone(app, api, enroll, device_http, declare,
                                                                          sign_in_with_groups):
    sign_in_with_groups("demo-alice", "sales")
    alice, carol = enroll("user", "alice@example.org"), enroll("user", "carol@example.org")
    passcode = declare("com.apple.configuration.passcode.settings", {"MinimumLength": 4}, "example.passcode")
    api("PUT", f"/declarations/{passcode['id']}/scope", json={"groups": ["sales"]})
    alice.poll(device_http)
    carol.poll(device_http)
    assert "example.passcode" in alice.ddm.held and "example.passcode" not in carol.ddm.held
    sign_in_with_groups("demo-alice", "staff")
    alice.poll(device_http)
    assert "example.passcode" not in alice.ddm.held
    assert "example.passcode" not in statuses(app, alice)
