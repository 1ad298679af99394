"""The campaign on the admin migration page: e-mail the notice (twice: once), import, export, schedule, history."""
from __future__ import annotations

import io

from sqlalchemy import func, select

from portal.extensions import db
from portal.mail.delivery import deliver_due_mail
from portal.migration import campaign
from portal.models import Device, MailOutbox, MigrationNotice
from portal.models.base import utcnow
from tests.helpers import csrf_token_from

CSV = ("udid,serial_number,user_email,model\n"
       f"{'A' * 40},C02ABCDEFGH,erin@example.org,=cmd|' /C calc'!A0\n"
       "bad,C02ABCDEFGI,erin@example.org,iPhone X\n").encode()


def _token(admin_client) -> str:
    return csrf_token_from(admin_client.get("/admin/migration").get_data(as_text=True))


def test_the_notice_button_mails_once_however_often_it_is_clicked(app, admin_client, seed, mail_app, smtp_server):
    ids = seed(3, enrollment_type="device")
    form = {"csrf_token": _token(admin_client), "scope": "selected", "device_id": [str(i) for i in ids]}
    assert admin_client.post("/admin/migration/mail", data=form).status_code == 303
    assert admin_client.post("/admin/migration/mail", data=form).status_code == 303
    assert admin_client.post("/admin/migration/mail", data=form | {"scope": "filter"}).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MigrationNotice)) == 3
        assert deliver_due_mail(utcnow()) == 3
    assert len(smtp_server.messages) == 3
    history = admin_client.get(f"/admin/migration/{ids[0]}").get_data(as_text=True)
    assert "Notice e-mail queued by admin@example.org" in history and "Notice e-mail delivered" in history


def test_import_page_reports_rejects_and_the_export_neutralises_formulas(app, admin_client):
    page = admin_client.get("/admin/migration/import").get_data(as_text=True)
    response = admin_client.post("/admin/migration/import", data={"csrf_token": csrf_token_from(page),
                                                                 "file": (io.BytesIO(CSV), "devices.csv")},
                                 content_type="multipart/form-data")
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "Imported 1 device(s); 1 row(s) rejected" in text and "<td>3</td>" in text
    refused = admin_client.post("/admin/migration/import", data={"csrf_token": csrf_token_from(page),
                                                                "file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")},
                                content_type="multipart/form-data")
    assert refused.status_code == 422 and "Nothing was imported: the first line must name" in refused.get_data(as_text=True)
    with app.app_context():
        device = db.session.scalar(select(Device))
        assert (device.status, device.enrollment_method, device.udid) == ("imported", "imported", "A" * 40)
    export = admin_client.get("/admin/migration/export.csv").get_data(as_text=True)
    assert "'=cmd|" in export and ",=cmd" not in export and "C02ABCDEFGH" in export


def test_the_schedule_form_validates_and_saves(app, admin_client):
    token = _token(admin_client)
    assert admin_client.post("/admin/migration/campaign", data={"csrf_token": token, "grace_days": "abc",
                                                                "reminder_days": ""}).status_code == 303
    with app.app_context():
        assert campaign.load().grace_days is None
    admin_client.post("/admin/migration/campaign", data={"csrf_token": token, "grace_days": "10",
                                                         "reminder_days": "14, 7, 7"})
    with app.app_context():
        assert campaign.load() == campaign.CampaignSettings(grace_days=10, reminder_days=[7, 14])
    assert 'value="7, 14"' in admin_client.get("/admin/migration").get_data(as_text=True)


def test_the_api_refuses_bad_campaign_settings_and_bad_imports(api):
    assert api("PATCH", "/migration/campaign", json={"grace_days": 0}).status_code == 422
    assert api("PATCH", "/migration/campaign", json={"reminder_days": [1, 2, 3, 4, 5, 6]}).status_code == 422
    assert api("PATCH", "/migration/campaign", json={"other": 1}).status_code == 422
    assert api("POST", "/migration/import", data=b"\xff\xfe", content_type="text/csv").status_code == 422
    assert api("POST", "/migration/notify", json={"device_ids": []}).status_code == 400
    skipped = api("POST", "/migration/notify", json={"device_ids": [999999]}).get_json()
    assert skipped["notified"] == 0 and skipped["skipped"] == [{"device_id": 999999, "reason": "not a legacy device"}]


def test_an_imported_device_cannot_be_un_enrolled(app, api):
    assert api("POST", "/migration/import", data=CSV, content_type="text/csv").status_code == 201
    with app.app_context():
        device_id = db.session.scalar(select(Device.id))
    response = api("POST", "/migration/unenroll", json={"device_ids": [device_id]})
    assert response.status_code == 422 and "imported from a list" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(MailOutbox)) is None
