"""Which language a request is answered in, and that each person's language is kept for their mail."""
from __future__ import annotations

import httpx
import pytest
from flask import g

from mdm_core import account_driven as ad
from mdm_core.simulator.web_sign_in import FormWalker
from portal.extensions import db
from portal.i18n import organization_language, select_locale, supported
from portal.models import EndUser
from portal.settings_store import update_enrollment_settings
from tests.helpers import demo_sign_in


@pytest.fixture
def default_language(app):
    def change(language: str):
        with app.app_context():
            update_enrollment_settings({"default_language": language})
            db.session.commit()

    return change


@pytest.mark.parametrize("asked, shipped", [("ja-JP", "ja"), ("de_CH", "de"), ("FR", "fr"), ("pt-BR", None), ("", None),
                                            (None, None)])
def test_supported_maps_a_tag_to_a_shipped_language(asked, shipped):
    assert supported(asked) == shipped


def test_the_phones_language_wins_over_the_browser(app):
    with app.test_request_context("/", headers={"Accept-Language": "de-DE,de;q=0.9"}):
        g.request_language = "ja-JP"
        assert select_locale() == "ja"


def test_the_browser_language_is_matched_to_a_shipped_one(app):
    with app.test_request_context("/", headers={"Accept-Language": "pt-BR, es;q=0.8, de;q=0.5"}):
        assert select_locale() == "es"


def test_the_organisations_default_applies_when_nothing_else_matches(app, default_language):
    with app.test_request_context("/", headers={"Accept-Language": "pt-BR"}):
        assert select_locale() == "en"
    default_language("fr")
    with app.test_request_context("/", headers={"Accept-Language": "pt-BR"}):
        assert select_locale() == "fr" and organization_language() == "fr"


def test_the_default_language_must_be_a_shipped_one(api):
    response = api("PATCH", "/settings/enrollment", json={"default_language": "xx"})
    assert response.status_code == 422 and "default_language" in response.get_json()["detail"]
    assert api("PATCH", "/settings/enrollment", json={"default_language": "ja"}).get_json()["default_language"] == "ja"


def test_sign_in_records_the_persons_language(app, client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de-AT, en;q=0.5"
    demo_sign_in(client)
    with app.app_context():
        assert db.session.scalar(db.select(EndUser.language).where(EndUser.subject == "demo-alice")) == "de"


def test_account_driven_sign_in_records_the_phones_language(app, device_http):
    with app.app_context():
        update_enrollment_settings({"account_driven_enabled": True, "managed_domains": ["example.org"]})
        db.session.commit()
    body = ad.request_body("ja-JP", "iPhone17,2", "22B83")
    challenge = device_http.post("/account-driven/enroll", content=body, headers={"Content-Type": "application/xml"})
    url = ad.web_sign_in_url(ad.parse_challenge(challenge.headers["WWW-Authenticate"]).url, "alice@example.org")
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url=app.config["PUBLIC_URL"],
                      headers={"Accept-Language": "en-US"}) as sheet:
        FormWalker(sheet, {"user": "demo-alice", "action": "sign_in", "acknowledge": "yes"})(url)
    with app.app_context():
        assert db.session.scalar(db.select(EndUser.language).where(EndUser.subject == "demo-alice")) == "ja"


def test_times_follow_the_language_and_english_keeps_its_form(app):
    from datetime import datetime, timezone

    from portal.i18n import moment

    when = datetime(2026, 12, 6, 7, 5, tzinfo=timezone.utc)
    with app.test_request_context("/enroll", headers={"Accept-Language": "de"}):
        assert moment(when) == "06.12.2026, 07:05:00 UTC" and moment(when, with_time=False) == "06.12.2026"
    with app.test_request_context("/enroll", headers={"Accept-Language": "ja"}):
        assert moment(when).startswith("2026/12/06")
    with app.test_request_context("/enroll", headers={"Accept-Language": "en"}):
        assert moment(when) == "2026-12-06 07:05 UTC"
