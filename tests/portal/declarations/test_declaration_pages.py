"""The declarations pages: add and scope a declaration from the console, per-device status with the
device's reasons (escaped), and the device page's management path."""
import json

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, Declaration, DeclarationStatus
from tests.helpers import page_of as _page, post_form as _post

HOSTILE = '<script>alert("x")</script>'


def test_an_admin_adds_scopes_and_sees_status_and_reasons_escaped(app, admin_client, seed):
    device_id, legacy_id = seed(1)[0], seed(1, os_version="14.8")[0]
    response = _post(admin_client, "/admin/declarations", {
        "type": "com.apple.configuration.passcode.settings", "identifier": "example.passcode",
        "payload": json.dumps({"MinimumLength": 6})})
    assert response.status_code == 303
    with app.app_context():
        declaration_id = db.session.scalar(select(Declaration.id))
    page = f"/admin/declarations/{declaration_id}"
    _post(admin_client, f"{page}/scope", {"all_user_enrolled": "on"}, page=page)
    assert "1 device(s) added" in _page(admin_client, page)
    with app.app_context():
        db.session.add(DeclarationStatus(device_id=device_id, identifier="example.passcode", server_token="t",
                                         active=False, valid="invalid",
                                         reasons=[{"Code": "Error.X", "Description": HOSTILE}]))
        db.session.commit()
    html = _page(admin_client, page)
    assert HOSTILE not in html and "&lt;script&gt;" in html and "Error.X" in html
    device_page = _page(admin_client, f"/admin/devices/{device_id}")
    assert "Declarative Device Management" in device_page and "example.passcode" in device_page
    assert HOSTILE not in device_page
    assert "MDM commands" in _page(admin_client, f"/admin/devices/{legacy_id}"), "iOS 14 keeps the command path"
    with app.app_context():
        assert [e.actor for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.action.in_(("declaration.created", "declaration.scope_changed"))))] == ["admin@example.org"] * 2


def test_bad_input_is_said_and_nothing_saved(app, admin_client, seed):
    seed(1)
    for data, message in (({"type": "com.apple.configuration.passcode.settings", "payload": "{nope"}, "not JSON"),
                          ({"type": "com.apple.configuration.passcode.settings", "payload": "[]"}, "JSON object"),
                          ({"type": "com.apple.configuration.passcode.settings",
                            "payload": json.dumps({"MinimumLength": "x"})}, "MinimumLength")):
        response = _post(admin_client, "/admin/declarations", data)
        assert response.status_code == 303
        assert message in _page(admin_client, "/admin/declarations")
    created = _post(admin_client, "/admin/declarations", {
        "type": "com.apple.configuration.softwareupdate.enforcement.specific", "identifier": "example.update",
        "payload": json.dumps({"TargetOSVersion": "18.1", "TargetLocalDateTime": "2026-12-24T20:00:00"})})
    page = created.location
    _post(admin_client, f"{page}/scope", {"all_user_enrolled": "on"}, page=page)
    html = _page(admin_client, page)
    assert "not allowed under User Enrollment" in html and "No device has it" in html
    assert admin_client.post("/admin/declarations", data={"type": "x", "payload": "{}"}).status_code == 400, "CSRF"


def test_odd_form_fields_are_said_not_a_server_error(app, admin_client):
    """A superscript digit is ``isdigit()`` but not ``int()``; 3,000 brackets exhaust ``json.loads``'s recursion."""
    deep = "[" * 3000 + "]" * 3000
    for data, message in (({"type": "com.apple.configuration.legacy", "payload": "{}", "profile_id": "²"}, "profile_id"),
                          ({"type": "com.apple.configuration.app.managed", "payload": "{}", "app_id": "²"}, "app_id"),
                          ({"type": "com.apple.configuration.passcode.settings",
                            "payload": '{"a": ' + deep + "}"}, "nested too deeply")):
        response = _post(admin_client, "/admin/declarations", data)
        assert response.status_code == 303, data
        assert message in _page(admin_client, "/admin/declarations")
    with app.app_context():
        assert db.session.scalar(select(Declaration.id)) is None
