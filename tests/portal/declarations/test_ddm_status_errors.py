"""The status channel's Errors: each lasts until a report carries its item again or a full report replaces them."""
from sqlalchemy import select

from portal.extensions import db
from portal.models import DdmEnrollment, Device


def test_a_status_items_error_goes_once_a_later_report_carries_the_item(app, enroll, ddm, admin_client):
    phone = enroll("user", os_version="16.7.2")  # before iOS 17 no report is a FullReport
    failed = {"StatusItems": {}, "FullReport": False, "Errors": [{"StatusItem": "app.managed.list", "Reasons": [
        {"Code": "Error.Unknown", "Description": "the managed app list is unavailable"}]}]}
    r = ddm(phone, "status", failed); print(r.content); assert r.status_code == 200
    recovered = {"StatusItems": {"app": {"managed": {"list": []}}}, "FullReport": False, "Errors": []}
    assert ddm(phone, "status", recovered).status_code == 200
    with app.app_context():
        device_id = db.session.scalar(select(Device.id).where(Device.enrollment_id == phone.identifier))
        errors = db.session.get(DdmEnrollment, device_id).errors
    assert not [e for e in errors or [] if e["StatusItem"] == "app.managed.list"], errors
    assert "the managed app list is unavailable" not in admin_client.get(f"/admin/devices/{device_id}").text


def _errors(app, phone):
    with app.app_context():
        device_id = db.session.scalar(select(Device.id).where(Device.enrollment_id == phone.identifier))
        return {e["StatusItem"]: e["Reasons"][0]["Code"] for e in db.session.get(DdmEnrollment, device_id).errors or []}


def _error(item, code="Error.Unknown"):
    return {"StatusItem": item, "Reasons": [{"Code": code}]}


def test_an_incremental_report_keeps_the_errors_of_items_it_does_not_carry_and_a_full_one_replaces_them(
        app, enroll, ddm):
    phone = enroll("user", os_version="16.7.2")
    assert ddm(phone, "status", {"StatusItems": {}, "FullReport": False,
                                 "Errors": [_error("app.managed.list"), _error("account.list.mail")]}).status_code == 200
    # an OS update alone, then a new error for one of them: the other error stays, the renewed one is the new one
    os_only = {"StatusItems": {"device": {"operating-system": {"version": "16.7.3"}}}, "FullReport": False, "Errors": []}
    assert ddm(phone, "status", os_only).status_code == 200
    assert _errors(app, phone) == {"app.managed.list": "Error.Unknown", "account.list.mail": "Error.Unknown"}
    renewed = {"StatusItems": {}, "FullReport": False, "Errors": [_error("account.list.mail", "Error.Other")]}
    assert ddm(phone, "status", renewed).status_code == 200
    assert _errors(app, phone) == {"app.managed.list": "Error.Unknown", "account.list.mail": "Error.Other"}
    full = {"StatusItems": {}, "FullReport": True, "Errors": [_error("security.certificate.list")]}
    assert ddm(phone, "status", full).status_code == 200
    assert _errors(app, phone) == {"security.certificate.list": "Error.Unknown"}
