"""Managed apps and certificates from status reports: the inventory a DDM phone keeps current with no
ManagedApplicationList or CertificateList command (``app.managed.list``, ``security.certificate.list``)."""
import base64
import hashlib
import threading
import time

import pytest
from cryptography.hazmat.primitives import serialization
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, select, text, update

from mdm_core.ddm.status import MAX_DECLARATION_STATUSES
from mdm_core.ddm.status_lists import MAX_LIST_ENTRIES
from portal.declarations import sync as sync_module
from portal.extensions import db
from portal.inventory.history import MAX_CHANGES_PER_DEVICE
from portal.inventory.records import apply_report
from portal.inventory.sweep import queue_inventory
from portal.models import Command, DdmEnrollment, DeclarationStatus, Device, DeviceAccount, DeviceApp, DeviceCertificate, InventoryChange
from portal.models.base import utcnow
from tests.helpers import commit_while_waiting, recorded, self_signed, until_waiting
from tests.portal.declarations.conftest import IDENTITY, MAIL


def certificate(name):
    return self_signed(name)[0].public_bytes(serialization.Encoding.DER)


def lists(apps=None, certificates=None, *, full):
    """A status report carrying the two lists, as an iPhone nests them."""
    items = {}
    if apps is not None:
        items["app"] = {"managed": {"list": apps}}
    if certificates is not None:
        items["security"] = {"certificate": {"list": certificates}}
    return {"StatusItems": items, "Errors": [], "FullReport": full}


def stored(app, phone):
    with app.app_context():
        apps = {a.identifier: a for a in db.session.scalars(select(DeviceApp))}
        certificates = {c.fingerprint: c for c in db.session.scalars(select(DeviceCertificate))}
        changes = [(c.kind, c.key, c.old, c.new) for c in db.session.scalars(select(InventoryChange)
                                                                        .order_by(InventoryChange.id))]
        for row in (*apps.values(), *certificates.values()):
            db.session.expunge(row)
        return apps, certificates, changes


def test_a_status_report_keeps_managed_apps_and_certificates_and_a_later_one_removes_them(
        app, enroll, ddm, device_row, admin_client):
    phone = enroll("user")
    der = certificate("Work VPN")
    fingerprint = hashlib.sha256(der).hexdigest()
    with app.app_context():
        commands = db.session.scalar(select(func.count()).select_from(Command))
    before = stored(app, phone)[2]  # enrollment's inventory round reported the enrollment's own certificates
    first = lists([{"identifier": "com.example.expenses", "declaration-identifier": "expenses", "name": "Expenses",
                    "version": "412", "short-version": "4.1.2", "state": "managed"}],
                  [{"identifier": "vpn.cert", "declaration-identifier": "vpn", "subject-summary": "Work VPN",
                    "is-identity": True, "data": base64.b64encode(der).decode()}], full=True)
    assert ddm(phone, "status", first).status_code == 200
    apps, certificates, changes = stored(app, phone)
    expenses = apps["com.example.expenses"]
    assert (expenses.name, expenses.version, expenses.short_version, expenses.status, expenses.status_identifier) \
        == ("Expenses", "412", "4.1.2", "Managed", "com.example.expenses")
    vpn = certificates[fingerprint]
    assert (vpn.common_name, vpn.is_identity, vpn.status_identifier) == ("Work VPN", True, "vpn.cert")
    assert vpn.not_after > utcnow()
    assert changes[len(before):] == [("apps", "com.example.expenses", None, "added"),
                                     ("certificates", fingerprint, None, "added")]
    page = admin_client.get(f"/admin/devices/{device_row(phone).id}").get_data(as_text=True)
    assert "com.example.expenses" in page and "Work VPN" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Command)) == commands, "no command polled"

    # an incremental report: the app's state changed; then it is removed, and the certificate renewed in place
    assert ddm(phone, "status", lists([{"identifier": "com.example.expenses", "state": "installing"}],
                                      full=False)).status_code == 200
    assert stored(app, phone)[0]["com.example.expenses"].status == "Installing"
    renewed = certificate("Work VPN")
    assert ddm(phone, "status", lists([{"identifier": "com.example.expenses", "_removed": True}],
                                      [{"identifier": "vpn.cert", "data": base64.b64encode(renewed).decode()}],
                                      full=False)).status_code == 200
    apps, certificates, changes = stored(app, phone)
    assert apps == {} and fingerprint not in certificates and hashlib.sha256(renewed).hexdigest() in certificates
    assert ("apps", "com.example.expenses", "installed", None) in changes
    assert ("certificates", fingerprint, "installed", None) in changes


def test_a_full_report_replaces_what_reports_gave_and_keeps_what_commands_reported(app, api, enroll, ddm, device_row):
    phone = enroll("user")
    device_id = device_row(phone).id
    with app.app_context():
        apply_report(db.session.connection(), device_id, "ManagedApplicationList",
                     {"ManagedApplicationList": {"com.example.commanded": {"Status": "Managed"}}}, utcnow())
        db.session.commit()
    assert ddm(phone, "status", lists([{"identifier": "com.example.declared", "state": "managed"}], [],
                                      full=True)).status_code == 200
    assert set(stored(app, phone)[0]) == {"com.example.commanded", "com.example.declared"}
    listed = api("GET", f"/devices/{device_id}").get_json()["apps"]
    assert {a["identifier"]: a["reported_by"] for a in listed} == {"com.example.commanded": "command",
                                                                  "com.example.declared": "status"}
    # a later full report lists no app: the declared one is gone, the one a command reported stays
    assert ddm(phone, "status", lists([], [], full=True)).status_code == 200
    assert set(stored(app, phone)[0]) == {"com.example.commanded"}
    # and a ManagedApplicationList without the declared app leaves status-reported rows alone
    assert ddm(phone, "status", lists([{"identifier": "com.example.declared", "state": "managed"}],
                                      full=False)).status_code == 200
    with app.app_context():
        apply_report(db.session.connection(), device_id, "ManagedApplicationList",
                     {"ManagedApplicationList": {}}, utcnow())
        db.session.commit()
    assert set(stored(app, phone)[0]) == {"com.example.declared"}


def test_hostile_list_entries_are_skipped_or_made_storable_and_the_report_is_kept(app, enroll, ddm):
    phone = enroll("user")
    entries = ["not an entry", {"name": "no identifier"}, {"identifier": ""}, {"identifier": 7},
               {"identifier": "com.example.nul\x00", "name": "Nul\x00 app", "version": ["1"], "state": "managed"},
               {"identifier": "x" * 5000, "name": "long"}]
    certificates = [{"identifier": "no-data"}, {"identifier": "bad", "data": "%%% not base64"},
                    {"identifier": "empty", "data": ""}, {"identifier": "unicode", "data": "é" * 10},
                    {"identifier": "junk", "data": base64.b64encode(b"not a certificate").decode(),
                     "subject-summary": "Junk\x00"},
                    {"identifier": "same", "data": base64.b64encode(b"not a certificate").decode()}]
    assert ddm(phone, "status", lists(entries, certificates, full=True)).status_code == 200
    apps, stored_certificates, _ = stored(app, phone)
    assert set(apps) == {"com.example.nul\ufffd", "x" * 255}
    assert apps["com.example.nul\ufffd"].name == "Nul\ufffd app" and apps["com.example.nul\ufffd"].version is None
    reported = {fingerprint: c for fingerprint, c in stored_certificates.items() if c.status_identifier}
    junk = reported[hashlib.sha256(b"not a certificate").hexdigest()]
    assert len(reported) == 1 and junk.status_identifier == "same" and junk.not_after is None
    assert ddm(phone, "status", lists({"not": "a list"}, full=False)).status_code == 200  # dropped by its type
    assert set(stored(app, phone)[0]) == set(apps)


def test_a_declared_certificate_reaches_the_inventory_from_the_phones_report_and_leaves_with_its_scope(
        app, api, enroll, declare, device_http):
    phone = enroll("user", "alice@example.org")
    der = certificate("Example Root CA")
    declare("com.apple.asset.credential.certificate", {}, "example.root", data=base64.b64encode(der).decode())
    trust = declare("com.apple.configuration.security.certificate", {"CredentialAssetReference": "example.root"},
                    "example.trust")
    api("PUT", f"/declarations/{trust['id']}/scope", json={"all_user_enrolled": True})
    phone.poll(device_http)
    assert phone.ddm.state_of("example.trust")["active"]
    reported = {c.fingerprint: c for c in stored(app, phone)[1].values() if c.status_identifier}
    root = reported[hashlib.sha256(der).hexdigest()]
    assert (root.common_name, root.status_identifier, root.is_identity) == ("Example Root CA", "example.root", False)

    api("PUT", f"/declarations/{trust['id']}/scope", json={"all_user_enrolled": False})
    phone.poll(device_http)
    assert not phone.ddm.reports[-1]["FullReport"], "an incremental report carried the removal"
    assert not [c for c in stored(app, phone)[1].values() if c.status_identifier]


def test_an_entry_keeps_what_it_leaves_out_and_a_device_gets_no_rows_past_the_cap(app, enroll, ddm, device_row):
    phone = enroll("user")
    device_id = device_row(phone).id
    with app.app_context():
        apply_report(db.session.connection(), device_id, "InstalledApplicationList", {"InstalledApplicationList": [
            {"Identifier": "com.example.x", "Name": "X App", "Version": "5", "ShortVersion": "5.0"}]}, utcnow())
        db.session.commit()
    assert ddm(phone, "status", lists([{"identifier": "com.example.x", "state": "managed"}],
                                      full=False)).status_code == 200
    x = stored(app, phone)[0]["com.example.x"]
    assert (x.name, x.version, x.short_version, x.status) == ("X App", "5", "5.0", "Managed")

    many = [{"identifier": f"com.example.app{n:04}", "state": "managed"} for n in range(MAX_LIST_ENTRIES - 2)]
    assert ddm(phone, "status", lists(many, full=False)).status_code == 200
    more = [{"identifier": f"com.example.more{n}", "state": "managed"} for n in range(5)]
    assert ddm(phone, "status", lists([*more, {"identifier": "com.example.x", "state": "installing"}],
                                      full=False)).status_code == 200
    apps = stored(app, phone)[0]
    assert len(apps) == MAX_LIST_ENTRIES and apps["com.example.x"].status == "Installing"
    assert {"com.example.more0"} == {key for key in apps if key.startswith("com.example.more")}, \
        "new rows in key order until the device holds the cap"


def test_a_phone_churning_its_lists_keeps_only_its_newest_changes(app, enroll, ddm, device_row, admin_client):
    phone = enroll("user")
    device_id = device_row(phone).id
    first = [{"identifier": f"com.example.first{n:03}", "state": "managed"} for n in range(600)]
    second = [{"identifier": f"com.example.second{n:03}", "state": "managed"} for n in range(600)]
    assert ddm(phone, "status", lists(first, full=True)).status_code == 200
    assert ddm(phone, "status", lists(second, full=True)).status_code == 200  # 600 added, 600 gone
    changes = stored(app, phone)[2]
    assert len(changes) == MAX_CHANGES_PER_DEVICE
    latest = {("apps", entry["identifier"], None, "added") for entry in second} | {
        ("apps", entry["identifier"], "installed", None) for entry in first}
    assert set(changes) <= latest, "the 1,200 changes of the latest report are the newest: the rest are dropped"
    assert admin_client.get(f"/admin/devices/{device_id}").status_code == 200


def stored_accounts(app):
    with app.app_context():
        return {a.identifier: (a.account_type, a.declaration_identifier, a.visible_name, a.hostname, a.port, a.username)
                for a in db.session.scalars(select(DeviceAccount))}


def test_a_status_report_keeps_the_accounts_declarations_installed_and_never_another(
        app, api, enroll, ddm, device_row, admin_client):
    phone = enroll("user")
    device_id = device_row(phone).id
    report = {"StatusItems": {"account": {"list": {
        "mail": {"incoming": [{"identifier": "m1", "declaration-identifier": "work.mail", "visible-name": "Work mail",
                               "hostname": "imap.example.org", "port": 993, "username": "alice@example.org"},
                              {"identifier": "p1", "visible-name": "Holiday photos", "hostname": "imap.personal.example",
                               "username": "alice.private@personal.example"}],
                 "outgoing": [{"identifier": "m1", "declaration-identifier": "work.mail", "hostname": "smtp.example.org"}]},
        "caldav": []}}}, "Errors": [], "FullReport": True}
    assert ddm(phone, "status", report).status_code == 200
    assert stored_accounts(app) == {
        "mail.incoming/m1": ("mail.incoming", "work.mail", "Work mail", "imap.example.org", 993, "alice@example.org"),
        "mail.outgoing/m1": ("mail.outgoing", "work.mail", None, "smtp.example.org", None, None)}
    with app.app_context():
        dump = repr([list(row) for row in db.session.execute(db.text("SELECT * FROM device_accounts"))]
                    + [list(row) for row in db.session.execute(db.text("SELECT * FROM inventory_changes"))])
    assert "personal.example" not in dump and "Holiday" not in dump, "an account no declaration installed is never stored"
    page = admin_client.get(f"/admin/devices/{device_id}").get_data(as_text=True)
    assert "Work mail" in page and "imap.example.org:993" in page and "personal.example" not in page
    listed = api("GET", f"/devices/{device_id}").get_json()["accounts"]
    assert [(a["account_type"], a["hostname"]) for a in listed] == [("mail.incoming", "imap.example.org"),
                                                                   ("mail.outgoing", "smtp.example.org")]

    # incremental: the outgoing server is gone; what the incoming entry leaves out stays as stored
    assert ddm(phone, "status", {"StatusItems": {"account": {"list": {"mail": {
        "incoming": [{"identifier": "m1", "declaration-identifier": "work.mail", "port": 143}],
        "outgoing": [{"identifier": "m1", "_removed": True}]}}}}, "FullReport": False}).status_code == 200
    assert stored_accounts(app) == {
        "mail.incoming/m1": ("mail.incoming", "work.mail", "Work mail", "imap.example.org", 143, "alice@example.org")}
    assert ddm(phone, "status", {"StatusItems": {"account": {"list": {"mail": {"incoming": []}}}},
                                 "FullReport": True}).status_code == 200
    assert stored_accounts(app) == {}


def test_a_declared_mail_account_reaches_the_device_page_from_the_phones_report_and_leaves_with_its_scope(
        app, api, enroll, declare, device_http, device_row, admin_client):
    phone = enroll("user", "alice@example.org")
    declare("com.apple.asset.useridentity", {"EmailAddress": IDENTITY["EmailAddress"]}, "example.identity")
    mail = declare("com.apple.configuration.account.mail", MAIL, "example.mail")
    api("PUT", f"/declarations/{mail['id']}/scope", json={"all_user_enrolled": True})
    phone.poll(device_http)
    assert {(row[0], row[1], row[3], row[4]) for row in stored_accounts(app).values()} == {
        ("mail.incoming", "example.mail", "imap.example.org", 993), ("mail.outgoing", "example.mail", "smtp.example.org", 587)}
    page = admin_client.get(f"/admin/devices/{device_row(phone).id}").get_data(as_text=True)
    assert "Work mail" in page and "smtp.example.org:587" in page

    api("PUT", f"/declarations/{mail['id']}/scope", json={"all_user_enrolled": False})
    phone.poll(device_http)
    assert not phone.ddm.reports[-1]["FullReport"], "an incremental report carried the removal"
    assert stored_accounts(app) == {}


def test_a_list_reported_again_unchanged_is_not_written_again(app, enroll, ddm, device_row):
    phone = enroll("user")
    listed = [{"identifier": "com.example.expenses", "state": "managed"}]

    def stamped():
        with app.app_context():
            return db.session.scalar(select(DeviceApp.updated_at).where(DeviceApp.identifier == "com.example.expenses"))

    with app.app_context():
        assert db.session.get(DdmEnrollment, device_row(phone).id).apps_list_digest is None
    assert ddm(phone, "status", lists(listed, full=True)).status_code == 200
    first = stamped()
    assert ddm(phone, "status", lists(listed, full=True)).status_code == 200
    assert stamped() == first, "the same list: not written again"
    assert ddm(phone, "status", lists([{**listed[0], "state": "installing"}], full=True)).status_code == 200
    assert stamped() > first and stored(app, phone)[0]["com.example.expenses"].status == "Installing"

    # the same entries in another account list are another list
    account = {"identifier": "m1", "declaration-identifier": "work.mail"}
    both = {"StatusItems": {"account": {"list": {"mail": {"incoming": [account], "outgoing": [account]}}}},
            "FullReport": True}
    assert ddm(phone, "status", both).status_code == 200
    for gone in ("incoming", "outgoing"):
        removal = {"StatusItems": {"account": {"list": {"mail": {gone: [{"identifier": "m1", "_removed": True}]}}}},
                   "FullReport": False}
        assert ddm(phone, "status", removal).status_code == 200
    assert stored_accounts(app) == {}


def test_a_command_answer_rewriting_a_reported_row_and_the_cap_make_the_same_list_write_again(
        app, enroll, ddm, device_row):
    phone = enroll("user")
    device_id = device_row(phone).id
    listed = lists([{"identifier": "com.example.expenses", "state": "managed"}], full=True)
    assert ddm(phone, "status", listed).status_code == 200
    with app.app_context():
        apply_report(db.session.connection(), device_id, "ManagedApplicationList",
                     {"ManagedApplicationList": {"com.example.expenses": {"Status": "Installing"}}}, utcnow())
        db.session.commit()
    assert stored(app, phone)[0]["com.example.expenses"].status == "Installing"
    assert ddm(phone, "status", listed).status_code == 200
    assert stored(app, phone)[0]["com.example.expenses"].status == "Managed", "the status report writes it again"

    full = [{"identifier": f"com.example.app{n:04}", "state": "managed"} for n in range(MAX_LIST_ENTRIES)]
    assert ddm(phone, "status", lists(full, full=True)).status_code == 200
    swapped = lists([*full[1:], {"identifier": "com.example.zzz", "state": "managed"}], full=True)
    assert ddm(phone, "status", swapped).status_code == 200
    apps = stored(app, phone)[0]
    assert "com.example.app0000" not in apps and "com.example.zzz" not in apps, "held back: the device was at the cap"
    assert ddm(phone, "status", swapped).status_code == 200
    assert "com.example.zzz" in stored(app, phone)[0], "the same report again adds it"


def test_migration_0021_marks_the_lists_earlier_code_wrote_so_the_next_report_writes_them(
        app, enroll, ddm, device_row):
    phone = enroll("user")
    device_id = device_row(phone).id
    with app.app_context():
        db.session.close()
        db.engine.dispose()  # SQLite: DDL on connections that read the schema afresh
        downgrade(revision="0020")
        db.session.execute(text("INSERT INTO device_apps (device_id, identifier, status, status_identifier, updated_at) "
                                "VALUES (:device, 'com.example.old', 'managed', 'com.example.old', :now)"),
                           {"device": device_id, "now": utcnow()})
        db.session.commit()
        db.session.close()
        db.engine.dispose()
        upgrade()
        enrollment = db.session.get(DdmEnrollment, device_id)
        assert (enrollment.apps_list_digest, enrollment.certificates_list_digest) == ("unknown", None)
    assert ddm(phone, "status", lists([], [], full=True)).status_code == 200
    assert "com.example.old" not in stored(app, phone)[0], "a full report listing no app removed it"


def test_migration_0022_marks_the_lists_sqlite_wrote_without_a_digest_so_the_next_report_writes_them(
        app, enroll, ddm, device_row):
    phone = enroll("user")
    device_id = device_row(phone).id
    account = {"identifier": "m1", "declaration-identifier": "work.mail"}
    assert ddm(phone, "status", {"StatusItems": {"account": {"list": {"mail": {"incoming": [account]}}}},
                                 "FullReport": True}).status_code == 200
    with app.app_context():
        db.session.close()
        db.engine.dispose()
        downgrade(revision="0021")
        db.session.execute(text("UPDATE ddm_enrollments SET accounts_list_digest = NULL"))  # as 0021's SQLite code left it
        db.session.commit()
        db.session.close()
        db.engine.dispose()
        upgrade()
        assert db.session.get(DdmEnrollment, device_id).accounts_list_digest == "unknown"
    assert ddm(phone, "status", {"StatusItems": {"account": {"list": {"mail": {"incoming": []}}}},
                                 "FullReport": True}).status_code == 200
    assert stored_accounts(app) == {}, "a full report listing no declared account removed it"


def test_only_a_report_carrying_passcode_compliance_dates_it(app, enroll, ddm, device_row):
    phone = enroll("user")
    device_id = device_row(phone).id

    def passcode():
        with app.app_context():
            row = db.session.get(DdmEnrollment, device_id)
            return row.passcode_compliant, row.passcode_present, row.passcode_reported_at, row.last_status_at

    assert ddm(phone, "status", {"StatusItems": {"passcode": {"is-compliant": False}}}).status_code == 200
    compliant, _, told_at, last_at = passcode()
    assert compliant is False and told_at == last_at
    for items in ({"passcode": {"is-present": True}}, {"passcode": {"is-compliant": "yes"}},
                  {"device": {"operating-system": {"version": "17.6"}}}):
        assert ddm(phone, "status", {"StatusItems": items}).status_code == 200
        compliant, _, still, last_at = passcode()
        assert (compliant, still) == (False, told_at) and last_at > told_at, items
    assert passcode()[1] is True
    assert ddm(phone, "status", {"StatusItems": {"passcode": {"is-compliant": True}}}).status_code == 200
    compliant, _, told_at, last_at = passcode()
    assert compliant is True and told_at == last_at


def test_migration_0023_dates_a_stored_passcode_compliance_by_its_last_report(app, enroll, ddm, device_row):
    told, silent = enroll("user"), enroll("user")
    compliance = {"StatusItems": {"passcode": {"is-compliant": False}}, "FullReport": True}
    assert ddm(told, "status", compliance).status_code == 200
    assert ddm(silent, "status", {"StatusItems": {}, "FullReport": True}).status_code == 200
    told_id, silent_id = device_row(told).id, device_row(silent).id
    with app.app_context():
        db.session.close()
        db.engine.dispose()
        downgrade(revision="0022")
        db.session.execute(text("UPDATE ddm_enrollments SET passcode_compliant = NULL WHERE device_id = :device"),
                           {"device": silent_id})  # no report of it told its passcode
        db.session.commit()
        db.session.close()
        db.engine.dispose()
        upgrade()
        told_row, silent_row = db.session.get(DdmEnrollment, told_id), db.session.get(DdmEnrollment, silent_id)
        assert told_row.passcode_compliant is False and told_row.passcode_reported_at == told_row.last_status_at
        assert silent_row.last_status_at and silent_row.passcode_reported_at is None


def test_migration_0024_words_app_states_as_managed_application_list_does(app, enroll, device_row):
    phone = enroll("user")
    device_id = device_row(phone).id
    with app.app_context():
        db.session.close()
        db.engine.dispose()
        downgrade(revision="0023")
        for identifier, state, reported in (("com.example.a", "managed-but-uninstalled", True),
                                            ("com.example.b", "managed", True), ("com.example.c", "Installing", True),
                                            ("com.example.d", "user-rejected", True),
                                            ("com.example.e", "not-present", True), ("com.example.g", None, True),
                                            ("com.example.f", "managed", False)):
            db.session.execute(text("INSERT INTO device_apps (device_id, identifier, status, status_identifier, "
                                    "updated_at) VALUES (:device, :identifier, :state, :reported, :now)"),
                               {"device": device_id, "identifier": identifier, "state": state,
                                "reported": identifier if reported else None, "now": utcnow()})
        queued = [{"device": device_id, "identifier": f"com.example.q{n:04}", "now": utcnow()} for n in range(1500)]
        db.session.execute(text("INSERT INTO device_apps (device_id, identifier, status, status_identifier, "
                                "updated_at) VALUES (:device, :identifier, 'queued', :identifier, :now)"), queued)
        db.session.commit()
        db.session.close()
        db.engine.dispose()
        upgrade()
        states = dict(db.session.execute(select(DeviceApp.identifier, DeviceApp.status)).all())
    assert {states.pop(f"com.example.q{n:04}") for n in range(1500)} == {"Queued"}, "past the first thousand too"
    assert states == {"com.example.a": "ManagedButUninstalled", "com.example.b": "Managed",
                      "com.example.c": "Installing", "com.example.d": "UserRejected", "com.example.e": "NotPresent",
                      "com.example.f": "managed", "com.example.g": None}, "a command's answer is left as it said it"


def fact_changes(app):
    with app.app_context():
        return [(c.key, c.old, c.new) for c in db.session.scalars(
            select(InventoryChange).where(InventoryChange.kind == "facts").order_by(InventoryChange.id))]


def inventory_round(app, phone, device_http, device_row):
    with app.app_context():
        queue_inventory(db.session.get(Device, device_row(phone).id))
        db.session.commit()
    phone.poll(device_http)


def test_an_os_update_a_status_report_tells_is_recorded_then_and_not_again_by_the_next_answer(
        app, enroll, ddm, device_row, device_http, admin_client):
    phone = enroll("user")  # the enrollment's inventory round stored 17.5.1 (21F90), model MTLW3LL/A
    assert fact_changes(app) == []
    update = {"StatusItems": {"device": {"operating-system": {"version": "17.6", "build-version": "21G80"},
                                         "model": {"number": "MTLW3", "identifier": phone.product_name}}},
              "Errors": [], "FullReport": False}
    assert ddm(phone, "status", update).status_code == 200
    told = [("OSVersion", "17.5.1", "17.6"), ("BuildVersion", "21F90", "21G80")]
    assert fact_changes(app) == told, "recorded when the phone told it; a model's other form is no change"
    assert ddm(phone, "status", update).status_code == 200
    assert fact_changes(app) == told, "the same report again changes nothing"
    page = admin_client.get(f"/admin/devices/{device_row(phone).id}").get_data(as_text=True)
    assert "21F90" in page and "21G80" in page, "the history shows the change"

    phone.os_version, phone.build_version = "17.6", "21G80"
    inventory_round(app, phone, device_http, device_row)
    assert fact_changes(app) == told, "the answer saying what the report said records it once more: no"
    assert device_row(phone).model == "MTLW3LL/A"

    phone.os_version, phone.build_version = "17.6.1", "21G93"
    inventory_round(app, phone, device_http, device_row)
    assert fact_changes(app) == [*told, ("BuildVersion", "21G80", "21G93"), ("OSVersion", "17.6", "17.6.1")]


def test_two_reports_telling_the_same_os_update_at_once_record_it_once(app, enroll, ddm, device_row):
    phone = enroll("user")
    update = {"StatusItems": {"device": {"operating-system": {"version": "17.6"}}}, "Errors": [], "FullReport": False}
    answers = []
    with app.app_context():  # the first report's statement has written the device row, not yet committed
        device_id = device_row(phone).id
        db.session.execute(text("UPDATE devices SET os_version = '17.6' WHERE id = :id"), {"id": device_id})
        db.session.add(InventoryChange(device_id=device_id, kind="facts", key="OSVersion", old="17.5.1", new="17.6"))
        racing = lambda: answers.append(ddm(phone, "status", update).status_code)  # noqa: E731
        if db.engine.dialect.name == "postgresql":
            commit_while_waiting(app, racing)
        else:  # SQLite: the report waits for the lock (its busy timeout) while the first one holds it
            thread = threading.Thread(target=racing)
            thread.start()
            time.sleep(0.5)
            db.session.commit()
            thread.join(10)
    assert answers == [200]
    assert fact_changes(app) == [("OSVersion", "17.5.1", "17.6")], "the second report found the update told"


@pytest.mark.postgres_only("two transactions at once")
def test_a_status_report_arriving_during_a_declarations_sync_does_not_deadlock(
        app, enroll, ddm, device_row, monkeypatch):
    phone = enroll("user")
    device_id = device_row(phone).id
    with app.app_context():  # the device's set changed: the worker's sync will send it a DeclarativeManagement
        db.session.execute(update(DdmEnrollment).where(DdmEnrollment.device_id == device_id).values(
            stale=True, tokens_document=None, sent_token="before", sync_command_uuid=None))
        db.session.commit()
    answers, racing = [], []
    real = sync_module.device_documents

    def documents(*args, **kwargs):  # the sync holds the ddm_enrollments row (FOR UPDATE); the phone reports now
        thread = threading.Thread(target=lambda: answers.append(ddm(phone, "status", {"StatusItems": {"device": {"operating-system": {"version": "17.6"}}}, "Errors": [], "FullReport": False}).status_code))
        thread.start()
        racing.append(thread)
        until_waiting(app, thread)
        return real(*args, **kwargs)

    monkeypatch.setattr(sync_module, "device_documents", documents)
    outcome = {}
    with app.app_context():
        recorded(outcome, "sync", lambda: sync_module.sync(db.session, device_ids=[device_id]))
    racing[0].join(30)
    assert outcome == {"sync": "done"} and answers == [200]


def test_a_report_past_the_cap_does_not_delete_the_statuses_it_left_out(app, enroll, ddm, device_row):
    phone = enroll("user")
    device_id = device_row(phone).id
    entry = {"server-token": "t", "active": True, "valid": "valid"}
    names = [f"com.example.d{n:04}" for n in range(MAX_DECLARATION_STATUSES + 1)]
    last = names[-1]
    lists = {"configurations": [{"identifier": last, **entry}], "assets": [], "activations": [], "management": []}
    first = {"StatusItems": {"management": {"declarations": lists}}, "Errors": [], "FullReport": True}
    assert ddm(phone, "status", first).status_code == 200
    lists["configurations"] = [{"identifier": name, **entry} for name in names]  # the same one listed, 1,001st
    assert ddm(phone, "status", first).status_code == 200
    with app.app_context():
        kept = set(db.session.scalars(select(DeclarationStatus.identifier)
                                      .where(DeclarationStatus.device_id == device_id)))
    assert last in kept, "its status was left out of this report, not reported gone"


def test_an_authenticate_again_records_the_os_update_it_tells(app, enroll, device_row, device_http):
    phone = enroll("user")
    phone.os_version, phone.build_version = "17.6", "21G80"
    assert phone.checkin(phone.authenticate_message(), device_http).status_code == 200
    assert fact_changes(app) == [("OSVersion", "17.5.1", "17.6"), ("BuildVersion", "21F90", "21G80")]
    assert phone.checkin(phone.token_update_message(), device_http).status_code == 200
    inventory_round(app, phone, device_http, device_row)
    assert len(fact_changes(app)) == 2, "the next answer records it once more: no"
    assert device_row(phone).os_version == "17.6"


def test_a_told_change_whose_record_is_missing_is_recorded_by_the_next_answer(app, enroll, device_row, device_http):
    phone = enroll("user")
    with app.app_context():  # a status report whose record failed after its statement, or written before the history
        db.session.execute(text("UPDATE devices SET os_version = '17.6' WHERE id = :id"), {"id": device_row(phone).id})
        db.session.commit()
    phone.os_version = "17.6"
    inventory_round(app, phone, device_http, device_row)
    assert fact_changes(app) == [("OSVersion", "17.5.1", "17.6")]


def test_a_full_report_without_the_declarations_item_keeps_their_statuses(app, enroll, ddm, device_row):
    """The phone may put ``management.declarations`` in ``Errors``, or send it in a shape that is dropped: such a
    full report says nothing of the declarations, so what the last one said stays; one listing none drops them."""
    phone = enroll("user")
    device_id = device_row(phone).id

    def listed(*identifiers):
        return {"StatusItems": {"management": {"declarations": {"activations": [], "assets": [], "management": [],
                "configurations": [{"identifier": i, "server-token": "t1", "active": True, "valid": "valid"}
                                   for i in identifiers]}}}, "FullReport": True}

    def stored():
        with app.app_context():
            return sorted(db.session.scalars(select(DeclarationStatus.identifier)
                                             .where(DeclarationStatus.device_id == device_id)))

    assert ddm(phone, "status", listed("example.kept")).status_code == 200
    assert stored() == ["example.kept"]
    for report in ({"StatusItems": {}, "FullReport": True,
                    "Errors": [{"StatusItem": "management.declarations", "Reasons": [{"Code": "Error.Internal"}]}]},
                   {"StatusItems": {"management": {"declarations": "not an object"}}, "FullReport": True}):
        assert ddm(phone, "status", report).status_code == 200
        assert stored() == ["example.kept"], report
    assert ddm(phone, "status", listed()).status_code == 200
    assert stored() == []
