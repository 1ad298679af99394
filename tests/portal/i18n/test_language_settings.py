"""The organisation's texts per language (API and settings page), dates in the reader's language, and the
admin pages, which stay in English."""
from __future__ import annotations

from datetime import datetime, timezone

from portal.extensions import db
from portal.models import Device, EndUser, PrivacyAcknowledgement
from portal.settings_store import load_enrollment_settings
from tests.helpers import acknowledge


def test_the_api_takes_the_disclosure_per_shipped_language(api):
    response = api("PATCH", "/settings/enrollment", json={"privacy_disclosure_translations": {"de": "Nur Arbeit."}})
    assert response.status_code == 200
    assert response.get_json()["privacy_disclosure_translations"] == {"de": "Nur Arbeit."}
    refused = api("PATCH", "/settings/enrollment", json={"privacy_disclosure_translations": {"pt": "Só trabalho."}})
    assert refused.status_code == 422 and "privacy_disclosure_translations" in refused.get_json()["detail"]
    assert api("PATCH", "/settings/enrollment", json={"privacy_disclosure_translations": ["de"]}).status_code == 422


def test_a_translation_changes_the_disclosure_version(app, api):
    def version():
        with app.app_context():
            return load_enrollment_settings().privacy_disclosure_version

    before = version()
    api("PATCH", "/settings/enrollment", json={"privacy_disclosure_translations": {"ja": "仕事用のデータだけです。"}})
    assert version() != before  # everyone is asked again, whichever language they read


def test_the_acknowledged_text_is_the_one_shown(app, api, employee):
    api("PATCH", "/settings/enrollment", json={"privacy_disclosure_translations": {"de": "Nur Arbeitsdaten."}})
    employee.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    assert "Nur Arbeitsdaten." in employee.get("/enroll/privacy").get_data(as_text=True)
    assert acknowledge(employee).status_code == 302
    with app.app_context():
        assert db.session.scalar(db.select(PrivacyAcknowledgement.disclosure_text)) == "Nur Arbeitsdaten."


def test_the_settings_page_saves_a_translated_disclosure(app, admin_client):
    page = admin_client.get("/admin/settings/enrollment")
    assert page.status_code == 200 and 'name="privacy_disclosure.ja"' in page.get_data(as_text=True)


def test_dates_follow_the_language(app, employee):
    with app.app_context():
        user = db.session.scalar(db.select(EndUser).where(EndUser.subject == "demo-alice"))
        db.session.add(Device(enrollment_type="user", enrollment_method="profile_driven", enrollment_id="lang-1", certificate_fingerprint="f" * 64,
                              user_id=user.id, status="enrolled",
                              enrolled_at=datetime(2026, 3, 4, 9, 30, tzinfo=timezone.utc)))
        db.session.commit()
    employee.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    german = employee.get("/enroll/devices").get_data(as_text=True)
    assert "04.03.2026" in german and ">registriert<" in german
    employee.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ja"
    assert "2026/03/04" in employee.get("/enroll/devices").get_data(as_text=True)
    employee.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-US"
    assert "Mar 4, 2026" in employee.get("/enroll/devices").get_data(as_text=True)


def test_admin_pages_stay_in_english(admin_client):
    admin_client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    page = admin_client.get("/admin/settings/enrollment").get_data(as_text=True)
    assert '<html lang="en">' in page and "Abmelden" not in page
