"""Inventory from simulated devices: collected at enrollment, refreshed by the sweep, and never
holding what User Enrollment forbids, even from a hostile device."""
from datetime import timedelta

from sqlalchemy import select

from mdm_core import plist
from mdm_core.simulator.device import Behaviour
from portal.extensions import db
from portal.inventory.sweep import run_sweep
from portal.models import Command, Device, DeviceApp, DeviceInventory, DeviceProfile, InventoryChange
from portal.models.base import utcnow
from portal.remote_commands import enqueue

FORBIDDEN_VALUES = ("SerialNumber", "IMEI", "UDID", "WiFiMAC")


def _device(app, enrollment_id):
    with app.app_context():
        device = db.session.scalar(select(Device).where(Device.enrollment_id == enrollment_id))
        db.session.expunge(device)
        return device


def test_enrollment_collects_inventory_into_the_tables(app, enroll):
    phone = enroll("user")
    device = _device(app, phone.enrollment_id)
    with app.app_context():
        inventory = db.session.get(DeviceInventory, device.id)
        assert inventory.facts["OSVersion"] == phone.os_version
        assert inventory.facts["DeviceCapacity"] == 128.0
        assert "HardwareEncryptionCaps" in inventory.security
        profiles = db.session.scalars(select(DeviceProfile.identifier).where(DeviceProfile.device_id == device.id)).all()
        assert profiles == [phone.enrollment_profile_identifier]
        assert device.model_name == "iPhone"


def test_hostile_user_enrolled_device_never_stores_forbidden_fields(app, enroll, admin_client, api_token, client):
    phone = enroll("user", behaviour=Behaviour(hostile=True))
    device = _device(app, phone.enrollment_id)
    secrets = (phone.serial_number, phone.imei, phone.udid)
    with app.app_context():
        stored = b"".join(c.result or b"" for c in db.session.scalars(select(Command).where(Command.device_id == device.id)))
        facts = db.session.get(DeviceInventory, device.id).facts
    for secret in secrets:
        assert secret.encode() not in stored, "a forbidden value reached commands.result"
    assert not set(FORBIDDEN_VALUES) & set(facts)
    page = admin_client.get(f"/admin/devices/{device.id}").get_data(as_text=True)
    token = api_token("reader", scopes=("read",))
    detail = client.get(f"/api/v1/devices/{device.id}", headers={"Authorization": f"Bearer {token}"}).get_data(as_text=True)
    for secret in secrets:
        assert secret not in page and secret not in detail


def test_personal_apps_are_never_stored_for_a_user_enrollment(app, enroll, device_http):
    phone = enroll("user", collect_inventory=False)
    phone.managed_apps["com.corp.mail"] = "Mail"
    phone.personal_apps["com.corp.mail.fake"] = "Fake"
    phone.poll(device_http)
    device = _device(app, phone.enrollment_id)
    with app.app_context():
        apps = db.session.scalars(select(DeviceApp.identifier).where(DeviceApp.device_id == device.id)).all()
    assert apps == ["com.corp.mail"]


def test_sweep_refreshes_due_devices_and_records_changes(app, enroll, device_http):
    phone = enroll("user")
    with app.app_context():
        assert run_sweep() == 0, "inventory was just collected"
        device = db.session.scalar(select(Device).where(Device.enrollment_id == phone.enrollment_id))
        device.inventory_requested_at = utcnow() - timedelta(days=2)
        db.session.commit()
        assert run_sweep() == 1
    phone.os_version = "18.0"
    exchanges = phone.poll(device_http)
    assert "DeviceInformation" in [e.request_type for e in exchanges]
    with app.app_context():
        device = db.session.scalar(select(Device).where(Device.enrollment_id == phone.enrollment_id))
        assert device.os_version == "18.0"
        change = db.session.scalar(select(InventoryChange).where(InventoryChange.key == "OSVersion"))
        assert (change.old, change.new) == ("17.5.1", "18.0")


def test_a_device_information_query_for_some_keys_keeps_the_other_facts(app, enroll, device_http):
    phone = enroll("user")
    with app.app_context():
        device = db.session.scalar(select(Device).where(Device.enrollment_id == phone.enrollment_id))
        before = dict(db.session.get(DeviceInventory, device.id).facts)
        enqueue(device, {"RequestType": "DeviceInformation", "Queries": ["OSVersion"]}, created_by="test")
        db.session.commit()
        device_id = device.id
    phone.os_version = "18.0"
    assert [e.request_type for e in phone.poll(device_http)] == ["DeviceInformation"]
    with app.app_context():
        facts = db.session.get(DeviceInventory, device_id).facts
        assert facts == {**before, "OSVersion": "18.0"}
        assert "ModelName" in facts


def test_inventory_sweep_cli_reports_the_devices_queued(app, enroll, runner):
    enroll("device", collect_inventory=False)
    with app.app_context():
        for device in db.session.scalars(select(Device)):
            device.inventory_requested_at = None
        db.session.commit()
    result = runner.invoke(args=["inventory-sweep"])
    assert result.exit_code == 0, result.output
    assert "1 device" in result.output


def test_stored_result_is_a_sanitised_plist(app, enroll):
    phone = enroll("user", behaviour=Behaviour(hostile=True))
    device = _device(app, phone.enrollment_id)
    with app.app_context():
        command = db.session.scalar(select(Command).where(Command.device_id == device.id,
                                                          Command.request_type == "DeviceInformation"))
        result = plist.loads(command.result)
    assert result["Status"] == "Acknowledged"
    assert "SerialNumber" not in result["QueryResponses"]
