"""SMTP settings: SMTP_URL and the admin page (password sealed, environment wins), the test message by page and API."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from portal.config import ConfigError, load_config
from portal.extensions import db
from portal.mail.delivery import deliver_due_mail
from portal.mail.settings import PAGE_KEY, effective_settings
from portal.mail.smtp_url import parse_smtp_url
from portal.models import AuditEvent, MailOutbox, Setting
from portal.models.base import utcnow
from tests.helpers import csrf_token_from


@pytest.mark.parametrize("url, expected", [
    ("smtp://u%40x:p%3Aw@mail.example.org", ("mail.example.org", 587, "starttls", "u@x", "p:w")),
    ("smtp://mail.example.org:25?starttls=required", ("mail.example.org", 25, "starttls_required", None, None)),
    ("smtps://a:b@mail.example.org", ("mail.example.org", 465, "tls", "a", "b")),
])
def test_smtp_url_forms(url, expected):
    s = parse_smtp_url(url)
    assert (s.host, s.port, s.security, s.username, s.password) == expected


@pytest.mark.parametrize("env, message", [
    ({"SMTP_URL": "http://mail.example.org"}, "SMTP_URL must start with smtp://"),
    ({"SMTP_URL": "smtp://h?starttls=maybe"}, "SMTP_URL takes only the query ?starttls=required"),
    ({"SMTP_URL": "smtp://user:hunter2@h:99999"}, "SMTP_URL has a port that is not a number"),
    ({"MAIL_FROM": "IT <it@example.org>"}, "MAIL_FROM="),
])
def test_bad_mail_settings_stop_the_start_with_a_clear_message_without_the_password(tmp_path, env, message):
    with pytest.raises(ConfigError) as error:
        load_config(env, tmp_path)
    assert message in str(error.value) and "hunter2" not in str(error.value)


def _settings_form(admin_client, **values):
    page = admin_client.get("/admin/mail").get_data(as_text=True)
    return admin_client.post("/admin/mail/settings", data={"csrf_token": csrf_token_from(page), **values})


def test_page_settings_are_used_with_the_password_sealed(app, admin_client, smtp_server):
    response = _settings_form(admin_client, host="127.0.0.1", port=str(smtp_server.port), security="starttls",
                              username="", password="s3cret-pass", from_address="it@example.org")
    assert response.status_code == 303
    with app.app_context():
        stored = db.session.get(Setting, PAGE_KEY).value
        assert "s3cret-pass" not in json.dumps(stored) and stored["password_sealed"]
        settings = effective_settings()
        assert (settings.source, settings.password, settings.from_address) == ("page", "s3cret-pass", "it@example.org")
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "settings.mail_updated"))
        assert "s3cret-pass" not in json.dumps(event.detail)
    page = admin_client.get("/admin/mail").get_data(as_text=True)
    assert "s3cret-pass" not in page and f"127.0.0.1:{smtp_server.port}" in page
    # an empty password keeps the stored one
    assert _settings_form(admin_client, host="127.0.0.1", port=str(smtp_server.port), security="starttls",
                          from_address="it@example.org").status_code == 303
    with app.app_context():
        assert effective_settings().password == "s3cret-pass"


def test_bad_page_settings_are_refused_field_by_field(app, admin_client):
    response = _settings_form(admin_client, host="bad host!", port="70000", security="rot13", from_address="nope")
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    for field in ("host-error", "port-error", "security-error", "from_address-error"):
        assert f'id="{field}"' in text
    with app.app_context():
        assert db.session.get(Setting, PAGE_KEY) is None


def test_the_environment_wins_and_the_page_says_so(app, mail_app, admin_client, smtp_server):
    assert "Set by <code>SMTP_URL</code>" in admin_client.get("/admin/mail").get_data(as_text=True)
    assert _settings_form(admin_client, host="other.example.org").status_code == 303
    with app.app_context():
        assert db.session.get(Setting, PAGE_KEY) is None and effective_settings().source == "environment"


def test_the_test_button_and_the_api_send_one_message_each(app, mail_app, admin_client, api, smtp_server):
    page = admin_client.get("/admin/mail").get_data(as_text=True)
    assert admin_client.post("/admin/mail/test", data={"csrf_token": csrf_token_from(page),
                                                       "to": "me@example.org"}).status_code == 303
    response = api("POST", "/mail/test", json={"to": "ops@example.org"})
    assert response.status_code == 202 and response.get_json()["to"] == "ops@example.org"
    with app.app_context():
        assert deliver_due_mail(utcnow()) == 2
    assert sorted(str(m["To"]) for m in smtp_server.messages) == ["me@example.org", "ops@example.org"]
    assert smtp_server.messages[0]["Subject"] == "Test message from BYOD MDM"
    assert "sent" in admin_client.get("/admin/mail").get_data(as_text=True)


@pytest.mark.parametrize("body, status", [({}, 400), ({"to": 5}, 400), ({"to": "a@b.org\r\nBcc: x@y.org"}, 422),
                                          ({"to": "not an address"}, 422)])
def test_the_api_refuses_a_bad_address(app, api, body, status):
    assert api("POST", "/mail/test", json=body).status_code == status
    with app.app_context():
        assert db.session.scalar(select(MailOutbox)) is None


def test_the_api_needs_the_mail_or_settings_scope(client, api_token):
    token = api_token("reader", scopes=("read",))
    response = client.post("/api/v1/mail/test", json={"to": "a@example.org"}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
