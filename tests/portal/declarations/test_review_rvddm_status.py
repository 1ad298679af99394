"""Review (rvddm): the status channel's Errors outlive the failure they describe."""
from sqlalchemy import select

from portal.extensions import db
from portal.models import DdmEnrollment, Device


def test_a_status_items_error_goes_once_a_later_report_carries_the_item(app, enroll, ddm, admin_client):
    phone = enroll("user", os_version="16.7.2")  # before iOS 17 no report is a FullReport
    failed = {"StatusItems": {}, "FullReport": False, "Errors": [{"StatusItem": "app.managed.list", "Reasons": [
        {"Code": "Error.Unknown", "Description": "the managed app list is unavailable"}]}]}
    assert ddm(phone, "status", failed).status_code == 200
    recovered = {"StatusItems": {"app": {"managed": {"list": []}}}, "FullReport": False, "Errors": []}
    assert ddm(phone, "status", recovered).status_code == 200
    with app.app_context():
        device_id = db.session.scalar(select(Device.id).where(Device.enrollment_id == phone.identifier))
        errors = db.session.get(DdmEnrollment, device_id).errors
    assert not [e for e in errors or [] if e["StatusItem"] == "app.managed.list"], errors
    assert "the managed app list is unavailable" not in admin_client.get(f"/admin/devices/{device_id}").text
