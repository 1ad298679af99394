"""GET/PATCH /api/v1/settings/enrollment and the admin page that edits the same values."""
from __future__ import annotations

import pytest

from tests.helpers import csrf_token_from
from portal.extensions import db
from portal.models import AuditEvent


@pytest.fixture
def call(client, api_token):
    tokens = {"all": api_token("all"), "read": api_token("reader", scopes=("read",))}

    def request(method: str, json=None, token: str = "all"):
        return client.open("/api/v1/settings/enrollment", method=method, json=json,
                           headers={"Authorization": f"Bearer {tokens[token]}"})

    return request


def test_get_returns_every_contract_key_with_defaults(call):
    body = call("GET", token="read").get_json()
    assert body["profile_driven_enabled"] is True and body["account_driven_enabled"] is False
    assert body["allowed_domains"] == [] and body["allowed_groups"] == [] and body["managed_domains"] == []
    assert body["legacy_device_enrollment_enabled"] is False
    assert "IT cannot" in body["privacy_disclosure"]
    assert body["max_devices_per_user"] == 3 and body["organization_name"] == "BYOD MDM"


def test_patch_is_partial_normalised_and_audited(call, app):
    response = call("PATCH", {"allowed_domains": ["Example.ORG.", "example.org"], "max_devices_per_user": None})
    assert response.status_code == 200
    body = call("GET").get_json()
    assert body["allowed_domains"] == ["example.org"] and body["max_devices_per_user"] is None
    assert body["profile_driven_enabled"] is True, "untouched keys keep their values"
    with app.app_context():
        event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "settings.enrollment_updated"))
        assert event.actor == "token:all"
        assert event.detail == {"changed": {"allowed_domains": ["example.org"], "max_devices_per_user": None}}


def test_invalid_values_get_422_per_field_and_change_nothing(call):
    response = call("PATCH", {"profile_driven_enabled": "yes", "allowed_domains": ["not a domain"],
                              "max_devices_per_user": 0, "colour": "red", "organization_name": "Fine Corp"})
    assert response.status_code == 422
    detail = response.get_json()["detail"]
    assert set(detail) == {"profile_driven_enabled", "allowed_domains", "max_devices_per_user", "colour"}
    assert call("GET").get_json()["organization_name"] == "BYOD MDM"


def test_control_characters_are_refused_but_markdown_keeps_line_breaks_and_tabs(call):
    response = call("PATCH", {"organization_name": "Acme\x01", "privacy_disclosure": "We see \x07 this",
                              "enrollment_text": {"default": "Hello\x1b[31m"}})
    assert response.status_code == 422
    assert set(response.get_json()["detail"]) == {"organization_name", "privacy_disclosure", "enrollment_text"}
    assert call("PATCH", {"organization_name": "Acme\nCorp"}).status_code == 422, "a name is one line"
    assert call("PATCH", {"privacy_disclosure": "## IT can\r\n\n- see\tapps"}).status_code == 200
    assert call("GET").get_json()["privacy_disclosure"] == "## IT can\n\n- see\tapps"


def test_an_organization_name_stored_before_validation_falls_back_to_the_default(app):
    from portal.models import Setting
    from portal.settings_store import DEFAULT_ORGANIZATION, organization_name

    with app.app_context():
        db.session.add(Setting(key="organization_name", value="Acme\x01"))
        db.session.commit()
        assert organization_name() == DEFAULT_ORGANIZATION


def test_patch_needs_the_settings_scope(call):
    assert call("PATCH", {"organization_name": "X"}, token="read").status_code == 403
    assert call("PATCH", ["not", "an", "object"]).status_code == 400


def test_admin_page_saves_the_same_settings(admin_client, call):
    page = admin_client.get("/admin/settings/enrollment").get_data(as_text=True)
    form = {"csrf_token": csrf_token_from(page), "profile_driven_enabled": "on", "organization_name": "Acme",
            "managed_domains": "acme.example\n", "allowed_domains": "", "allowed_groups": "staff, it",
            "max_devices_per_user": "2", "enrollment_text.default": "Welcome", "new_language": "de",
            "new_language_text": "Willkommen", "privacy_disclosure": "IT sees little."}
    response = admin_client.post("/admin/settings/enrollment", data=form)
    assert response.status_code == 302
    body = call("GET").get_json()
    assert body["organization_name"] == "Acme" and body["allowed_groups"] == ["staff", "it"]
    assert body["enrollment_text"] == {"default": "Welcome", "de": "Willkommen"}
    assert body["max_devices_per_user"] == 2 and body["account_driven_enabled"] is False


def test_admin_page_shows_errors_and_keeps_the_input(admin_client, call):
    page = admin_client.get("/admin/settings/enrollment").get_data(as_text=True)
    response = admin_client.post("/admin/settings/enrollment", data={
        "csrf_token": csrf_token_from(page), "organization_name": "<b>Acme</b>", "managed_domains": "bad domain!",
        "max_devices_per_user": "many", "enrollment_text.default": "x", "privacy_disclosure": "y"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "must be a whole number" in html and "&lt;b&gt;Acme&lt;/b&gt;" in html
    assert call("GET").get_json()["organization_name"] == "BYOD MDM"
