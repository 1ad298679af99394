"""A console form refused field by field ties each message to its field (``aria-describedby``, and
``aria-invalid``), through the one macro of admin/_form.html, so a screen reader says why when the admin tabs to
the field (WCAG 3.3.1, 1.3.1); the banner alone says only "see the messages below"."""
from __future__ import annotations

import re

from tests.helpers import csrf_token_from


def _control(page: str, field_id: str) -> str:
    return re.search(rf'<(?:input|textarea|select)\b[^>]*\bid="{re.escape(field_id)}"[^>]*>', page).group(0)


def _assert_described_by_its_error(page: str, field_id: str) -> None:
    assert f'id="{field_id}-error"' in page, "the refused field shows its message"
    control = _control(page, field_id)
    described = re.search(r'aria-describedby="([^"]*)"', control)
    assert described and f"{field_id}-error" in described.group(1).split(), \
        f"#{field_id} is not described by its error message: {control}"
    assert 'aria-invalid="true"' in control, f"#{field_id} is not marked invalid: {control}"


def test_enrollment_settings_errors_are_tied_to_their_fields(admin_client):
    page = admin_client.get("/admin/settings/enrollment").get_data(as_text=True)
    response = admin_client.post("/admin/settings/enrollment", data={
        "csrf_token": csrf_token_from(page), "organization_name": "Acme", "managed_domains": "bad domain!",
        "max_devices_per_user": "many", "enrollment_text.default": "x", "privacy_disclosure": "y"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    _assert_described_by_its_error(html, "max_devices_per_user")
    assert "aria-invalid" not in _control(html, "organization_name"), "a field without a message is not invalid"
    hinted = re.search(r'aria-describedby="([^"]*)"', _control(html, "max_devices_per_user")).group(1).split()
    assert "max_devices_per_user-hint" in hinted and 'id="max_devices_per_user-hint"' in html, "its hint is said too"
    fresh = admin_client.get("/admin/settings/enrollment").get_data(as_text=True)
    assert "aria-invalid" not in fresh and "-error" not in fresh, "nothing points at a message before a refusal"
    assert 'value="None"' not in html, "a field the refused post left out shows its default, not the word None"


def test_mail_settings_errors_are_tied_to_their_fields(admin_client):
    page = admin_client.get("/admin/mail").get_data(as_text=True)
    response = admin_client.post("/admin/mail/settings", data={"csrf_token": csrf_token_from(page), "host": "bad host!",
                                                               "port": "70000", "security": "starttls",
                                                               "from_address": "nope"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for field_id in ("host", "port", "from_address"):
        _assert_described_by_its_error(html, field_id)


def test_profile_builder_errors_are_tied_to_their_fields(admin_client):
    page = admin_client.get("/admin/profiles/new").get_data(as_text=True)
    response = admin_client.post("/admin/profiles/new", data={
        "csrf_token": csrf_token_from(page), "display_name": "", "identifier": "com.example.wifi", "p0.kind": "wifi",
        "p0.name": "wifi", "p0.SSID_STR": "", "action": "save"}, content_type="multipart/form-data")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for field_id in ("display_name", "p0-SSID_STR"):
        _assert_described_by_its_error(html, field_id)
    identifier = _control(html, "identifier")
    assert 'aria-describedby="identifier-help"' in identifier and "aria-invalid" not in identifier


def test_admin_sign_in_errors_are_tied_to_their_fields(client):
    page = client.get("/admin/login").get_data(as_text=True)
    html = client.post("/admin/login", data={"csrf_token": csrf_token_from(page), "email": "", "password": ""}
                       ).get_data(as_text=True)
    for field_id in ("email", "password"):
        _assert_described_by_its_error(html, field_id)
