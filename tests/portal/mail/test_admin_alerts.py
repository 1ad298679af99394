"""Admin alerts: raised once per threshold crossing, mailed once to each admin who wants them, on the dashboard."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from portal import audit
from portal.alerts.check import check_alerts
from portal.extensions import db
from portal.mail.delivery import deliver_due_mail
from portal.models import AdminAlert, AlertOptOut, AuditEvent, MailOutbox
from portal.models.base import utcnow
from portal.pki import device_ca
from portal.push.certificate import raise_alert as apns_refused
from portal.settings_store import update_enrollment_settings
from tests.helpers import csrf_token_from


def _alerts(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AdminAlert.key).order_by(AdminAlert.id)))


def test_expiry_is_alerted_at_30_7_and_1_days_once_each(app, make_admin, mail_app, smtp_server):
    make_admin("one@example.org")
    make_admin("two@example.org")
    with app.app_context():
        not_after = device_ca().certificate.not_valid_after_utc
        db.session.commit()
        for days in (40, 29.5, 29, 20, 6.5, 6, 0.5, 0.2):
            check_alerts(not_after - timedelta(days=days))
        assert [k.rsplit(":", 1)[1] for k in _alerts(app)] == ["30", "7", "1"]
        assert all(k.startswith("expiry:device_ca:") for k in _alerts(app))
        assert deliver_due_mail(utcnow()) == 6, "three alerts, each to two admins"
    subjects = sorted(str(m["Subject"]) for m in smtp_server.recorder.to("one@example.org"))
    assert subjects == ["[BYOD MDM] The device CA expires in 1 day (%s)." % f"{not_after:%Y-%m-%d}",
                        "[BYOD MDM] The device CA expires in 30 days (%s)." % f"{not_after:%Y-%m-%d}",
                        "[BYOD MDM] The device CA expires in 7 days (%s)." % f"{not_after:%Y-%m-%d}"]


def test_found_late_only_the_nearest_threshold_is_alerted(app, make_admin):
    with app.app_context():
        not_after = device_ca().certificate.not_valid_after_utc
        check_alerts(not_after - timedelta(days=5))
    assert [k.rsplit(":", 1)[1] for k in _alerts(app)] == ["7"]


def test_apns_refusal_is_alerted_once_and_opted_out_admins_get_no_mail(app, make_admin, admin_client):
    make_admin("quiet@example.org")
    page = admin_client.get("/admin/alerts").get_data(as_text=True)
    # admin@example.org (signed in) turns apns_refused off
    assert admin_client.post("/admin/alerts/preferences", data={"csrf_token": csrf_token_from(page), "expiry": "on",
                                                                "enrollment_failures": "on",
                                                                "offboarding": "on"}).status_code == 303
    with app.app_context():
        assert [k for (k,) in db.session.execute(select(AlertOptOut.kind))] == ["apns_refused"]
        apns_refused("BadCertificate")
        db.session.commit()
        check_alerts()
        check_alerts()
        assert len(_alerts(app)) == 1
        assert list(db.session.scalars(select(MailOutbox.to_address))) == ["quiet@example.org"]
    dashboard = admin_client.get("/admin/").get_data(as_text=True)
    assert "Apple refused the push certificate (BadCertificate)" in dashboard
    with app.app_context():
        alert_id = db.session.scalar(select(AdminAlert.id))
    assert admin_client.post(f"/admin/alerts/{alert_id}/dismiss",
                             data={"csrf_token": csrf_token_from(dashboard), "back": "dashboard"}).status_code == 303
    assert "Apple refused the push certificate" not in admin_client.get("/admin/").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "admin.alert_dismissed"))


def test_failures_above_the_threshold_are_alerted_once_per_hour(app, make_admin, client):
    make_admin()
    assert client.get("/scep?operation=PKIOperation&message=bm90LWEtc2NlcC1tZXNzYWdl").status_code == 400
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "scep.refused"))
        for _ in range(18):
            audit.record("scep.refused", actor_type="device", detail={"reason": "badRequest"})
        for _ in range(20):
            audit.record("enrollment.refused", detail={"method": "account_driven", "reason": "not_allowed"})
            audit.record("enrollment.refused", detail={"method": "profile_driven", "reason": "not_allowed"})
        db.session.commit()
        check_alerts()
        assert [k.split(":")[1] for k in _alerts(app)] == ["account_driven"], "19 SCEP failures stay under 20"
        audit.record("scep.refused", actor_type="device", detail={"reason": "badRequest"})
        db.session.commit()
        check_alerts()
        check_alerts()
        assert [k.split(":")[1] for k in _alerts(app)] == ["account_driven", "scep"]


def test_alert_mail_follows_the_organisations_language(app, make_admin, mail_app, smtp_server):
    make_admin()
    with app.app_context():
        update_enrollment_settings({"default_language": "de"})
        apns_refused("BadCertificate")
        db.session.commit()
        check_alerts()
        assert deliver_due_mail(utcnow()) == 1
    text = smtp_server.messages[0].get_body(("plain",)).get_content()
    assert "Zum Dashboard: http://127.0.0.1:" in text and smtp_server.messages[0]["Content-Language"] == "de"


def test_the_content_token_expiry_is_alerted(app, make_admin):
    from mdm_core.vpp.token import make_content_token
    from portal.apps.tokens import save_token

    make_admin()
    expires_at = utcnow() + timedelta(days=100)
    with app.app_context():
        save_token(db.session, make_content_token("Example Org", expires_at=expires_at), "admin@example.org")
        db.session.commit()
        check_alerts(expires_at - timedelta(days=6))
    assert [k.split(":")[1] for k in _alerts(app)] == ["content_token"]
    assert _alerts(app)[0].endswith(":7")


def test_offboarded_devices_that_do_not_answer_are_alerted_once_a_day(app, make_admin, enroll):
    from portal.models import EndUser
    from portal.offboarding.actions import offboard

    make_admin()
    enroll(managed_apple_id="leaver@example.org")  # the phone never answers its RemoveProfile
    with app.app_context():
        leaver = EndUser(managed_apple_id="leaver@example.org", email="leaver@example.org")
        db.session.add(leaver)
        db.session.flush()
        offboard(db.session, leaver, "admin")
        db.session.commit()
        check_alerts(utcnow() + timedelta(hours=1))
        assert _alerts(app) == [], "within OFFBOARDING_ALERT_AFTER (24 h) nothing is raised"
        later = utcnow() + timedelta(hours=25)
        check_alerts(later)
        check_alerts(later + timedelta(minutes=5))
        [alert] = db.session.scalars(select(AdminAlert)).all()
        assert alert.kind == "offboarding" and alert.detail["overdue"] == 1
        assert "did not answer their retirement within 24 hours" in alert.message


def test_an_alert_is_queued_to_every_admin_in_statements_that_do_not_grow_with_admins(app):
    from sqlalchemy import event

    from portal.alerts.check import raise_alert
    from portal.models import Admin

    def statements(key: str) -> int:
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            raise_alert("expiry", key, "The push certificate expires in 7 days.")
            db.session.commit()
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen)

    with app.app_context():
        db.session.add(Admin(email="first@example.org", password_hash="x"))
        db.session.commit()
        statements("expiry:warm-up")
        few = statements("expiry:few")
        db.session.add_all([Admin(email=f"admin{i}@example.org", password_hash="x") for i in range(30)])
        db.session.commit()
        many = statements("expiry:many")
        assert many == few
        assert db.session.scalar(select(func.count()).select_from(MailOutbox)
                                 .where(MailOutbox.dedupe_key.like("alert:%"))) == 1 + 1 + 31
