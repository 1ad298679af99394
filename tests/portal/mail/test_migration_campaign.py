"""The migration campaign end to end: 200 legacy devices and 50 imported from a list (5 bad rows), notices in
each person's language, 150 owners re-enrolling, reminders, the grace period, the export, no duplicates."""
from __future__ import annotations

import csv
import io
import secrets
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, update

from portal import remote_commands
from portal.extensions import db
from portal.mail.delivery import deliver_due_mail
from portal.migration import campaign
from portal.migration.actions import MigrationRefused, send_unenrollment
from portal.migration.notices import notify, run_campaign, send_due_reminders, send_due_unenrollments
from portal.migration.state import counts
from portal.models import AuditEvent, Command, Device, EndUser, LegacyMigration, MailOutbox
from portal.models.base import utcnow
from portal.offboarding import offboard
from portal.settings_store import update_enrollment_settings

LEGACY = 200


def _udid() -> str:
    return secrets.token_hex(20).upper()


def _csv(known_udid: str) -> tuple[bytes, list[str]]:
    """50 valid rows (rows 1 and 2 belong to owners of legacy devices) and 5 bad ones."""
    lines = ["udid,serial_number,user_email,model"]
    emails = ["owner0@example.org", "owner1@example.org"] + [f"paper{j}@example.org" for j in range(2, 50)]
    udids = [_udid() for _ in emails]
    for j, (udid, email) in enumerate(zip(udids, emails)):
        lines.append(f"{udid},C{j:09d}X,{email},iPhone 12")
    lines[10:10] = ["not-a-udid,C000000100,bad@example.org,iPhone 8",  # line 11
                    f"{_udid()},short,bad@example.org,iPhone 8",  # line 12
                    f"{_udid()},C000000102,not an address,iPhone 8",  # line 13
                    f"{udids[0]},C000000103,bad@example.org,iPhone 8",  # line 14: repeats line 2
                    f"{known_udid},C000000104,bad@example.org,iPhone 8"]  # line 15: already enrolled
    return ("\n".join(lines) + "\n").encode(), udids


@pytest.fixture
def fleet(app, seed):
    """200 legacy devices of owner0..199 (owner120..129 read German, 150..199 run iOS 18), and the settings."""
    with app.app_context():
        update_enrollment_settings({"account_driven_enabled": True, "organization_name": "Example Org"})
        db.session.commit()
    ids = []
    for start, count, version in ((0, 150, "16.7"), (150, 50, "18.1")):
        ids += seed(count, enrollment_type="device", os_version=version)
    with app.app_context():
        for index, device_id in enumerate(ids):
            device = db.session.get(Device, device_id)
            device.managed_apple_id, device.udid = f"owner{index}@example.org", _udid()
            if 120 <= index < 130:
                user = EndUser(issuer="https://idp.example.org", subject=f"owner{index}", language="de",
                               managed_apple_id=device.managed_apple_id, email=device.managed_apple_id,
                               name=f"Owner {index}")
                db.session.add(user)
                db.session.flush()
                device.user_id = user.id
        db.session.commit()
        known = db.session.get(Device, ids[0]).udid
    return ids, known


def _deliver(app, now) -> int:
    with app.app_context():
        return deliver_due_mail(now)


def test_campaign_over_250_devices(app, mail_app, smtp_server, api, fleet, seed):
    legacy_ids, known_udid = fleet
    data, _ = _csv(known_udid)
    report = api("POST", "/migration/import", data=data, content_type="text/csv")
    assert report.status_code == 201, report.get_data(as_text=True)
    body = report.get_json()
    assert body["imported"] == 50
    assert [(r["line"], r["reason"].split(" ")[0]) for r in body["rejected"]] == [
        (11, "udid"), (12, "serial_number"), (13, "user_email:"), (14, "udid"), (15, "a")]
    assert "repeats line 2" in body["rejected"][3]["reason"] and "already known" in body["rejected"][4]["reason"]
    assert api("POST", "/migration/import", data=data, content_type="text/csv").get_json()["imported"] == 0, \
        "a file uploaded again imports nothing twice"
    assert api("PATCH", "/migration/campaign", json={"grace_days": 14, "reminder_days": [7]}).status_code == 200

    overview = api("GET", "/migration?limit=500").get_json()
    assert overview["counts"]["legacy"] == 250
    all_ids = [d["id"] for d in overview["devices"]]
    first = api("POST", "/migration/notify", json={"device_ids": all_ids})
    assert first.status_code == 202 and first.get_json()["notified"] == 250 and first.get_json()["emails"] == 248
    again = api("POST", "/migration/notify", json={"device_ids": all_ids}).get_json()
    assert (again["notified"], again["emails"], len(again["skipped"])) == (0, 0, 0), "a repeated click sends nothing"

    start = utcnow()
    assert _deliver(app, start) == 248
    received = Counter(str(m["To"]) for m in smtp_server.messages)
    assert len(received) == 248 and set(received.values()) == {1}, "one notice per person"
    both = smtp_server.recorder.to("owner0@example.org")[0].get_body(("plain",)).get_content()
    assert both.count("- iPhone 12") == 1 and "(iOS 16.7)" in both, "one message names both of owner0's devices"
    german = smtp_server.recorder.to("owner125@example.org")[0]
    assert german["Subject"] == "Example Org: Bitte stellen Sie Ihr Gerät auf die Benutzerregistrierung um"
    assert german["Content-Language"] == "de" and "Hallo Owner 125," in german.get_body(("plain",)).get_content()
    english = smtp_server.recorder.to("owner10@example.org")[0]
    assert english["Subject"] == "Example Org: please move your device to User Enrollment"
    text = english.get_body(("plain",)).get_content()
    assert f"{app.config['PUBLIC_URL']}/enroll" in text and "On iOS 17 or earlier" in text and "After 14 days" in text
    ios18 = smtp_server.recorder.to("owner160@example.org")[0].get_body(("plain",)).get_content()
    assert "On iOS 15 or later" in ios18 and "On iOS 17 or earlier" not in ios18

    # 150 owners re-enroll with User Enrollment a day later: owner0..119 and paper2..31
    owners = [f"owner{i}@example.org" for i in range(120)] + [f"paper{j}@example.org" for j in range(2, 32)]
    day = timedelta(days=1)
    for owner in owners:
        seed(1, managed_apple_id=owner, enrolled_at=start + day)
    with app.app_context():
        assert counts(start + 2 * day) | {} == {"legacy": 0, "notified": 218, "unenroll_sent": 0, "unenrolled": 0,
                                                "re_enrolled": 32, "failed": 0, "stalled": 0}
        assert send_due_reminders(start + 6 * day) == 0, "not before the reminder is due"
        assert send_due_reminders(start + 8 * day) == 98
        assert send_due_reminders(start + 9 * day) == 0, "each reminder once"
    assert _deliver(app, start + 8 * day) == 98
    reminded = {str(m["To"]) for m in smtp_server.messages[248:]}
    assert "owner5@example.org" not in reminded and "paper10@example.org" not in reminded
    assert {"owner150@example.org", "paper40@example.org"} <= reminded and len(reminded) == 98

    with app.app_context():
        assert send_due_unenrollments(start + 13 * day) == 0, "the grace period holds"
        assert send_due_unenrollments(start + 14 * day + timedelta(seconds=1)) == 200
        run_campaign(start + 15 * day)
        assert send_due_unenrollments(start + 16 * day) == 0, "each un-enrollment once"
        removals = db.session.scalars(select(Command.device_id).where(Command.request_type == "RemoveProfile")).all()
        assert sorted(removals) == sorted(legacy_ids), "only enrolled legacy devices, each once"
        for device_id in legacy_ids[:120]:  # the re-enrolled owners' old enrollments check out
            device = db.session.get(Device, device_id)
            device.status, device.unenrolled_at = "unenrolled", start + 16 * day
        db.session.commit()
        final = counts(start + 17 * day)
    assert final == {"legacy": 0, "notified": 18, "unenroll_sent": 80, "unenrolled": 0, "re_enrolled": 152,
                     "failed": 0, "stalled": 0}
    assert api("POST", "/migration/unenroll", json={"device_ids": legacy_ids[130:131]}).status_code == 422, \
        "a repeated un-enrollment is refused while one is pending"

    export = api("GET", "/migration/export")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert len(rows) == 250
    assert Counter(r["source"] for r in rows) == {"enrolled": 200, "imported": 50}
    assert all(r["notice_delivered_at"] for r in rows)
    assert Counter(r["reminders_sent"] for r in rows) == {"0": 152, "1": 98}
    assert sum(1 for r in rows if r["unenroll_sent_at"]) == 200
    assert all(r["serial_number"].startswith("C") for r in rows if r["source"] == "imported")
    assert all(r["re_enrolled_at"] for r in rows if r["state"] == "re_enrolled")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MailOutbox).where(MailOutbox.sent_at.is_(None))) == 0
        assert db.session.scalar(select(func.count()).select_from(LegacyMigration)) == 250


def test_reminders_take_statements_that_do_not_grow_with_the_devices_due(app, seed):
    start = utcnow()

    def notified(count: int) -> None:
        ids = seed(count, enrollment_type="device")
        with app.app_context():
            db.session.execute(update(Device).where(Device.id.in_(ids))
                               .values(managed_apple_id="p" + Device.id.cast(db.String) + "@example.org"))
            db.session.commit()
            assert notify(ids, actor="tests").devices == count
            db.session.execute(update(MailOutbox).where(MailOutbox.sent_at.is_(None)).values(sent_at=start))
            db.session.commit()

    def statements() -> tuple[int, int]:
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        with app.app_context():
            event.listen(db.engine, "before_cursor_execute", listener)
            try:
                sent = send_due_reminders(start + timedelta(days=8))
            finally:
                event.remove(db.engine, "before_cursor_execute", listener)
        # audit rows are the ORM's: one INSERT each on SQLite (batched on PostgreSQL)
        return sent, len([s for s in seen if not s.startswith("INSERT INTO audit_events")])

    with app.app_context():
        campaign.save(campaign.validate({"reminder_days": [7]}))
        db.session.commit()
    notified(3)
    few = statements()
    notified(520)
    many = statements()
    assert (few[0], many[0]) == (3, 520)
    assert many[1] == few[1]


def _notified_with_grace(device_ids, delivered_at):
    """A campaign with 14 days' grace, its notice to ``device_ids`` delivered at ``delivered_at`` (in the caller's
    app context; not committed after the delivery): what ``notify`` answered."""
    campaign.save(campaign.validate({"grace_days": 14}))
    db.session.commit()
    result = notify(device_ids, actor="tests")
    db.session.execute(update(MailOutbox).where(MailOutbox.sent_at.is_(None)).values(sent_at=delivered_at))
    return result


def test_the_worker_un_enrolls_a_campaign_larger_than_one_bulk_command(app, seed, monkeypatch):
    """Thousands of devices whose grace period ends together: more than BULK_MAX_DEVICES at once (shrunk here)."""
    ids = seed(3, enrollment_type="device")
    start = utcnow()
    with app.app_context():
        assert _notified_with_grace(ids, start).devices == 3
        db.session.commit()
    monkeypatch.setattr(remote_commands, "BULK_MAX_DEVICES", 2)
    with app.app_context():
        sent = send_due_unenrollments(start + timedelta(days=15))
        sent += send_due_unenrollments(start + timedelta(days=15, minutes=1))  # the next run of the job
        removals = db.session.scalar(select(func.count()).select_from(Command)
                                     .where(Command.request_type == "RemoveProfile"))
    assert (sent, removals) == (3, 3), "the campaign never un-enrolls anyone once too many are due at once"


def _person_with_a_legacy_phone(app, seed, name: str) -> tuple[int, int]:
    """A person ``name``@example.org and the legacy phone linked to them: (person id, device id)."""
    with app.app_context():
        person = EndUser(issuer="https://idp.example.org", subject=name, managed_apple_id=f"{name}@example.org",
                         email=f"{name}@example.org", name=name.title())
        db.session.add(person)
        db.session.commit()
        person_id = person.id
    device_id, = seed(1, enrollment_type="device", managed_apple_id=f"{name}@example.org", user_id=person_id)
    return person_id, device_id


def test_no_reminder_goes_to_a_person_who_was_offboarded(app, seed):
    start = utcnow()
    person_id, device_id = _person_with_a_legacy_phone(app, seed, "quinn")
    with app.app_context():
        campaign.save(campaign.validate({"reminder_days": [7]}))
        db.session.commit()
        assert notify([device_id], actor="tests").emails == 1
        db.session.execute(update(MailOutbox).where(MailOutbox.sent_at.is_(None)).values(sent_at=start))
        db.session.commit()
        offboard(db.session, db.session.get(EndUser, person_id), "deactivated")  # left the company
        device = db.session.get(Device, device_id)
        device.status, device.unenrolled_at = "unenrolled", start + timedelta(days=1)  # the retirement checked out
        db.session.commit()
        assert send_due_reminders(start + timedelta(days=8)) == 0, "a former employee is not asked to re-enroll"
        # nobody waits for them to re-enroll: unenrolled, never stalled
        assert counts(start + timedelta(days=30))["stalled"] == 0
        assert counts(start + timedelta(days=30))["unenrolled"] == 1


def test_the_notice_is_not_mailed_to_a_person_who_was_offboarded(app, seed):
    person_id, device_id = _person_with_a_legacy_phone(app, seed, "rory")
    with app.app_context():
        offboard(db.session, db.session.get(EndUser, person_id), "deactivated")  # its retirement is on its way
        db.session.commit()
        result = notify([device_id], actor="tests")  # the admin notifies every legacy device on the list
        assert result.emails == 0, "a former employee gets no 'move your device to User Enrollment' mail"
        assert result.skipped == [{"device_id": device_id, "reason": "the owner was offboarded"}]


def test_the_worker_leaves_an_offboarded_persons_device_to_its_retirement(app, seed):
    start = utcnow()
    person_id, device_id = _person_with_a_legacy_phone(app, seed, "sol")
    with app.app_context():
        assert _notified_with_grace([device_id], start).emails == 1
        offboard(db.session, db.session.get(EndUser, person_id), "deactivated")  # its retirement is queued
        db.session.commit()
        assert send_due_unenrollments(start + timedelta(days=15)) == 0
        removals = db.session.scalar(select(func.count()).select_from(Command)
                                     .where(Command.request_type == "RemoveProfile"))
    assert removals == 1, "one RemoveProfile: offboarding's"


def test_the_worker_skips_a_device_whose_un_enrollment_is_pending_and_signs_what_it_sends(app, seed, monkeypatch):
    ids = seed(3, enrollment_type="device")
    start = utcnow()
    with app.app_context():
        assert _notified_with_grace(ids, start).devices == 3
        # the admin un-enrolled the first from its device page: a second RemoveProfile would only muddle the first
        remote_commands.send(db.session.get(Device, ids[0]), remote_commands.unenroll_command(), created_by="admin")
        db.session.commit()
        with pytest.raises(MigrationRefused, match="already pending"):
            send_unenrollment([ids[0]], actor="admin")
        db.session.rollback()
    monkeypatch.setattr(remote_commands, "BULK_MAX_DEVICES", 1)  # the first batch is that device alone
    with app.app_context():
        assert send_due_unenrollments(start + timedelta(days=15)) == 2
        removals = Counter(db.session.scalars(select(Command.device_id).where(Command.request_type == "RemoveProfile")))
        assert removals == {ids[0]: 1, ids[1]: 1, ids[2]: 1}
        events = db.session.execute(select(AuditEvent.actor_type, AuditEvent.actor)
                                    .where(AuditEvent.action == "migration.unenroll_sent")).all()
    assert events == [("system", "migration-campaign")] * 2
