"""The declarations pages: add and scope a declaration from the console, per-device status with the
device's reasons (escaped), and the device page's management path."""
import json
from html.parser import HTMLParser

from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from portal.extensions import db
from portal.models import AuditEvent, Declaration, DeclarationStatus
from tests.helpers import csrf_token_from, page_of as _page, post_form as _post

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
    assert "Scope saved: 1 device added, 0 devices removed." in _page(admin_client, page)
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


class _ScopeForm(HTMLParser):
    """What a browser submits from the page's scope form as it stands: ticked boxes and the text areas."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside, self.textarea, self.fields = action, False, None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("action", "").endswith(self.action)
        elif self.inside and tag == "input" and attrs.get("type") == "checkbox" and "checked" in attrs:
            self.fields.append((attrs["name"], attrs.get("value", "on")))
        elif self.inside and tag == "textarea":
            self.textarea = attrs["name"]
            self.fields.append((self.textarea, ""))

    def handle_data(self, data):
        if self.textarea:
            self.fields[-1] = (self.textarea, self.fields[-1][1] + data)

    def handle_endtag(self, tag):
        self.textarea = None if tag == "textarea" else self.textarea
        self.inside = self.inside and tag != "form"


def test_saving_the_scope_form_unchanged_keeps_every_target_the_api_set(api, admin_client, declare):
    smart = [api("POST", "/smart-groups", json={"name": name, "criteria": {"os_version_min": version}}).get_json()["id"]
             for name, version in (("17+", "17.0"), ("18+", "18.0"))]
    created = declare("com.apple.configuration.passcode.settings", {"MinimumLength": 6}, "example.scoped")
    scope = {"all_user_enrolled": False, "include_legacy": False, "groups": ["sales", "never signed in"],
             "users": ["dana@example.org"], "smart_groups": [smart[0]],
             "exclude": {"groups": ["contractors"], "users": ["eve@example.org"], "smart_groups": [smart[1]]}}
    assert api("PUT", f"/declarations/{created['id']}/scope", json=scope).status_code == 200
    page = f"/admin/declarations/{created['id']}"
    form = _ScopeForm(f"{page}/scope")
    form.feed(_page(admin_client, page))
    assert ("smart_groups", str(smart[0])) in form.fields and ("exclude.smart_groups", str(smart[1])) in form.fields
    response = admin_client.post(f"{page}/scope", data=MultiDict([
        *form.fields, ("csrf_token", csrf_token_from(_page(admin_client, page)))]))
    assert response.status_code == 303
    assert api("GET", f"/declarations/{created['id']}").get_json()["scope"] == scope


def test_the_status_section_lists_a_device_removing_the_declaration(api, admin_client, enroll, reports_active,
                                                                    declare):
    """A phone whose set no longer holds a declaration it reported is listed as removing it, as the status answer
    of the API lists it, and counted; the page does not say no device has it while one still holds it."""
    phone = enroll("user")
    created = declare("com.apple.configuration.passcode.settings", {"MinimumLength": 6}, "example.leaving")
    assert api("PUT", f"/declarations/{created['id']}/scope", json={"all_user_enrolled": True}).status_code == 200
    reports_active(phone, "example.leaving")
    assert api("PUT", f"/declarations/{created['id']}/scope", json={}).status_code == 200
    device_id = api("GET", "/devices").get_json()["devices"][0]["id"]
    html = _page(admin_client, f"/admin/declarations/{created['id']}")
    assert f'href="/admin/devices/{device_id}"' in html
    assert "data-removing" in html and "No device has it" not in html
    assert "1 being removed" in html
