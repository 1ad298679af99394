"""The admin console pages: only allowed commands offered, forbidden ones refused anyway,
hostile device strings inert, every admin action audited."""
import io
import re

import pytest
from sqlalchemy import select

from tests.helpers import csrf_token_from
from mdm_core import plist
from portal.extensions import db
from portal.models import AuditEvent, Command

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _page(admin_client, path):
    response = admin_client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def _post(admin_client, path, data, page="/admin/devices"):
    data = {"csrf_token": csrf_token_from(_page(admin_client, page)), **data}
    return admin_client.post(path, data=data, content_type="multipart/form-data")


def _actions(app):
    with app.app_context():
        return [(e.actor_type, e.actor, e.action) for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_device_page_offers_only_commands_user_enrollment_allows(app, admin_client, seed):
    [device_id] = seed(1)
    page = _page(admin_client, f"/admin/devices/{device_id}")
    assert 'value="DeviceInformation"' in page and 'value="DeviceLock"' in page
    for forbidden in ("EraseDevice", "ClearPasscode", "Restrictions", "RestartDevice"):
        assert f'value="{forbidden}"' not in page


def test_forbidden_command_is_refused_by_the_server_whatever_the_page_sends(app, admin_client, seed):
    [device_id] = seed(1)
    response = _post(admin_client, f"/admin/devices/{device_id}/commands", {"request_type": "EraseDevice"},
                     page=f"/admin/devices/{device_id}")
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalars(select(Command)).all() == []
    assert "was not sent" in _page(admin_client, f"/admin/devices/{device_id}")
    assert ("admin", "admin@example.org", "command.refused") in _actions(app)


def test_admin_sends_a_command_from_the_device_page_and_it_is_audited(app, admin_client, seed):
    [device_id] = seed(1)
    response = _post(admin_client, f"/admin/devices/{device_id}/commands",
                     {"request_type": "DeviceLock", "Message": "Call IT"}, page=f"/admin/devices/{device_id}")
    assert response.status_code == 303
    with app.app_context():
        command = db.session.scalar(select(Command))
        assert command.request_type == "DeviceLock" and command.created_by == "admin@example.org"
        assert plist.loads(command.payload)["Command"]["Message"] == "Call IT"
    assert ("admin", "admin@example.org", "command.queued") in _actions(app)


def test_install_profile_refuses_a_payload_user_enrollment_forbids(app, admin_client, seed):
    [device_id] = seed(1)
    profile = plist.dumps({"PayloadType": "Configuration", "PayloadVersion": 1, "PayloadIdentifier": "org.x",
                           "PayloadUUID": "6C3B1A84-8F6B-4E4E-9A55-3C9B0C1C2D11", "PayloadDisplayName": "Full VPN",
                           "PayloadContent": [{"PayloadType": "com.apple.vpn.managed", "UserDefinedName": "VPN",
                                               "VPNType": "IKEv2", "PayloadVersion": 1, "PayloadIdentifier": "org.x.1",
                                               "PayloadUUID": "1D8E1B57-52C7-4B0B-9E7B-8E5B4B4B1A22"}]})
    _post(admin_client, f"/admin/devices/{device_id}/commands",
          {"request_type": "InstallProfile", "profile": (io.BytesIO(profile), "p.mobileconfig")},
          page=f"/admin/devices/{device_id}")
    with app.app_context():
        assert db.session.scalars(select(Command)).all() == []
    assert "cannot be installed on this device" in _page(admin_client, f"/admin/devices/{device_id}")


def test_unenroll_needs_confirmation_and_sends_remove_profile_for_the_enrollment_profile(app, admin_client, seed):
    [device_id] = seed(1)
    page = _page(admin_client, f"/admin/devices/{device_id}")
    assert "deletes the separate managed volume" in page and "keeps everything personal" in page
    _post(admin_client, f"/admin/devices/{device_id}/unenroll", {}, page=f"/admin/devices/{device_id}")
    with app.app_context():
        assert db.session.scalars(select(Command)).all() == []
    _post(admin_client, f"/admin/devices/{device_id}/unenroll", {"confirm": "yes"}, page=f"/admin/devices/{device_id}")
    with app.app_context():
        command = db.session.scalar(select(Command))
        assert plist.loads(command.payload)["Command"] == {"RequestType": "RemoveProfile",
                                                           "Identifier": "org.byod-mdm.enrollment"}
    assert ("admin", "admin@example.org", "device.unenroll_requested") in _actions(app)


def test_device_list_searches_and_bulk_sends_to_the_selection(app, admin_client, seed):
    first, second = seed(2, os_version="16.1")
    seed(1, os_version="17.0")
    page = _page(admin_client, "/admin/devices?q=16.1")
    assert "2 devices match" in page
    response = _post(admin_client, "/admin/devices/bulk",
                     {"request_type": "ProfileList", "scope": "selected", "device_id": [str(first), str(second)]})
    assert response.status_code == 303
    bulk_page = _page(admin_client, response.headers["Location"])
    assert 'data-count="queued">2<' in bulk_page
    assert ("admin", "admin@example.org", "command.bulk_queued") in _actions(app)


def test_bulk_on_a_search_by_managed_apple_id_reaches_only_the_matching_devices(app, admin_client, seed):
    [alice] = seed(1, managed_apple_id="alice@example.org")
    seed(2)
    page = _page(admin_client, "/admin/devices?managed_apple_id=alice@example.org")
    assert "all 1 devices matching this search" in page
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page))
    assert hidden.get("managed_apple_id") == "alice@example.org"
    response = _post(admin_client, "/admin/devices/bulk", {**hidden, "request_type": "ProfileList", "scope": "search"})
    assert response.status_code == 303
    with app.app_context():
        assert list(db.session.scalars(select(Command.device_id))) == [alice]


def test_hostile_device_strings_are_inert_on_every_page(app, admin_client, seed, make_admin):
    [device_id] = seed(1, device_name=HOSTILE, model=HOSTILE[:80], os_version=HOSTILE[:40],
                       managed_apple_id=HOSTILE)
    with app.app_context():
        from portal.inventory.records import apply_report
        from portal.models.base import utcnow
        apply_report(db.session.connection(), device_id, "ProfileList", {"ProfileList": [{"PayloadIdentifier": HOSTILE, "PayloadDisplayName": HOSTILE}]}, utcnow())
        apply_report(db.session.connection(), device_id, "InstalledApplicationList",
                     {"InstalledApplicationList": [{"Identifier": "com.x", "Name": HOSTILE}]}, utcnow())
        from portal import audit
        audit.record("device.renamed", target_type="device", target_id=device_id, detail={"name": HOSTILE})
        db.session.commit()
    for path in ("/admin/", "/admin/devices", f"/admin/devices/{device_id}", "/admin/audit"):
        page = _page(admin_client, path)
        assert "<script>alert" not in page and "<img src=x" not in page, path
    assert "&lt;script&gt;" in _page(admin_client, f"/admin/devices/{device_id}")


def test_dashboard_draws_svg_charts_and_saves_inventory_settings(app, admin_client, seed):
    seed(3)
    seed(1, enrollment_type="device", os_version="15.8")
    page = _page(admin_client, "/admin/")
    assert page.count("<svg") >= 3 and "15.8" in page
    _post(admin_client, "/admin/inventory-settings", {"inventory_interval_hours": "12", "stale_after_days": "7"},
          page="/admin/")
    assert 'value="12"' in _page(admin_client, "/admin/")
    assert ("admin", "admin@example.org", "settings.changed") in _actions(app)


def test_audit_page_filters_by_action(app, admin_client, seed):
    page = _page(admin_client, "/admin/audit?action=admin.login")
    assert "admin.login" in page and "admin@example.org" in page
    assert "must be an ISO 8601" in _page(admin_client, "/admin/audit?since=soon")


@pytest.mark.parametrize("path", ["/admin/devices", "/admin/devices/1", "/admin/audit", "/admin/bulk/x"])
def test_console_pages_need_sign_in(client, path):
    assert client.get(path).status_code == 302
