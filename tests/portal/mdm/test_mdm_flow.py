"""Simulated iPhones enroll through minted profiles and run the command protocol end to end."""
import base64

import pytest
from sqlalchemy import select

from mdm_core import plist
from mdm_core.simulator.device import Behaviour
from portal.extensions import db
from portal.models import Command, Device
from portal.models.command import ENROLLMENT_ENDED_ERROR_CHAIN

INVENTORY_ROUND = ["DeviceInformation", "SecurityInfo", "ManagedApplicationList", "InstalledApplicationList",
                   "ProfileList", "CertificateList"]


def _device_id(http_api, identifier_key, identifier):
    devices = http_api("GET", "/devices").json()["devices"]
    return next(d["id"] for d in devices if d.get(identifier_key) == identifier)


def test_user_and_device_enrollments_are_listed_with_their_type(enroll, http_api):
    phone = enroll("user", "alice@example.org")
    legacy = enroll("device", "bob@example.org")
    devices = {d["managed_apple_id"]: d for d in http_api("GET", "/devices").json()["devices"]}
    assert devices["alice@example.org"]["enrollment_type"] == "user"
    assert devices["alice@example.org"]["enrollment_id"] == phone.enrollment_id
    assert "udid" not in devices["alice@example.org"], "User Enrollment has no UDID"
    assert devices["alice@example.org"]["enrolled"] is True
    assert devices["bob@example.org"]["enrollment_type"] == "device"
    assert devices["bob@example.org"]["udid"] == legacy.udid
    assert devices["alice@example.org"]["os_version"] == phone.os_version


def test_enrollment_queues_an_inventory_round_then_the_queue_is_empty(enroll, device_http):
    phone = enroll(collect_inventory=False)
    # a user enrollment on iOS 15+ is managed declaratively: DDM is turned on first
    assert [e.request_type for e in phone.poll(device_http)] == ["DeclarativeManagement", *INVENTORY_ROUND]
    assert phone.poll(device_http) == [], "an empty queue answers a zero-length 200"


@pytest.mark.parametrize("enrollment_type", ["user", "device"])
def test_device_information_profile_list_and_install_profile_round_trips(enroll, http_api, device_http, enrollment_type):
    phone = enroll(enrollment_type)
    device_id = _device_id(http_api, "enrollment_id" if enrollment_type == "user" else "udid", phone.identifier)
    wifi = plist.dumps({"PayloadType": "Configuration", "PayloadVersion": 1, "PayloadIdentifier": "org.example.wifi",
                        "PayloadUUID": "6C3B1A84-8F6B-4E4E-9A55-3C9B0C1C2D11", "PayloadDisplayName": "Wi-Fi",
                        "PayloadContent": [{"PayloadType": "com.apple.wifi.managed", "PayloadVersion": 1,
                                            "PayloadIdentifier": "org.example.wifi.1",
                                            "PayloadUUID": "1D8E1B57-52C7-4B0B-9E7B-8E5B4B4B1A22",
                                            "SSID_STR": "Corp", "EncryptionType": "WPA2"}]})
    uuids = []
    for command in ({"request_type": "DeviceInformation", "Queries": ["OSVersion", "ModelName", "DeviceName"]},
                    {"request_type": "ProfileList"},
                    {"request_type": "InstallProfile", "Payload": base64.b64encode(wifi).decode()}):
        response = http_api("POST", f"/devices/{device_id}/commands", json=command)
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "queued"
        uuids.append(response.json()["command_uuid"])
    exchanges = phone.poll(device_http)
    assert [e.request_type for e in exchanges] == ["DeviceInformation", "ProfileList", "InstallProfile"]
    results = [http_api("GET", f"/commands/{u}").json() for u in uuids]
    assert [r["status"] for r in results] == ["acknowledged"] * 3
    assert results[0]["result"]["QueryResponses"]["OSVersion"] == phone.os_version
    assert any(p["PayloadIdentifier"] == phone.enrollment_profile_identifier for p in results[1]["result"]["ProfileList"])
    assert "org.example.wifi" in phone.profiles


def test_forbidden_command_for_user_enrollment_is_refused_with_422(enroll, http_api):
    phone = enroll("user")
    device_id = _device_id(http_api, "enrollment_id", phone.enrollment_id)
    response = http_api("POST", f"/devices/{device_id}/commands", json={"request_type": "EraseDevice"})
    assert response.status_code == 422
    assert "forbidden under User Enrollment" in str(response.json()["detail"])
    detail = http_api("GET", f"/devices/{device_id}").json()
    assert "EraseDevice" not in [c["request_type"] for c in detail["commands"]], "nothing was queued"


def test_forbidden_query_key_for_user_enrollment_is_refused(enroll, http_api):
    phone = enroll("user")
    device_id = _device_id(http_api, "enrollment_id", phone.enrollment_id)
    response = http_api("POST", f"/devices/{device_id}/commands",
                   json={"request_type": "DeviceInformation", "Queries": ["SerialNumber"]})
    assert response.status_code == 422


def test_not_now_command_is_retried_on_the_next_poll(enroll, http_api, device_http):
    phone = enroll("user")
    phone.behaviour = Behaviour(not_now_first=phone.commands_seen + 1)
    device_id = _device_id(http_api, "enrollment_id", phone.enrollment_id)
    command_uuid = http_api("POST", f"/devices/{device_id}/commands", json={"request_type": "ProfileList"}).json()["command_uuid"]
    first = phone.poll(device_http)
    assert [e.status for e in first] == ["NotNow"], "not handed back in answer to its own NotNow"
    assert http_api("GET", f"/commands/{command_uuid}").json()["status"] == "not_now"
    second = phone.poll(device_http)
    assert [(e.command_uuid, e.status) for e in second] == [(command_uuid, "Acknowledged")]
    assert http_api("GET", f"/commands/{command_uuid}").json()["status"] == "acknowledged"


def _commands(app):
    with app.app_context():
        return [(c.status, c.error_chain) for c in db.session.scalars(select(Command).order_by(Command.id))]


def test_checkout_finishes_the_open_commands_as_errors(app, enroll, device_http):
    phone = enroll("device", collect_inventory=False)
    with app.app_context():
        first, second, third, *_ = db.session.scalars(select(Command).order_by(Command.id))
        first.status, second.status, third.status = "acknowledged", "sent", "not_now"
        db.session.commit()
    phone.checkout(device_http)
    finished = _commands(app)
    assert finished[0] == ("acknowledged", None), "a finished command keeps the device's answer"
    assert finished[1:] == [("error", ENROLLMENT_ENDED_ERROR_CHAIN)] * (len(INVENTORY_ROUND) - 1)


def test_a_device_enrolling_again_on_its_udid_gets_none_of_the_earlier_enrollments_commands(app, enroll, http_api,
                                                                                            device_http):
    first = enroll("device")
    device_id = _device_id(http_api, "udid", first.udid)
    stale = http_api("POST", f"/devices/{device_id}/commands", json={"request_type": "ProfileList"}).json()["command_uuid"]
    with app.app_context():  # the enrollment ended with the command still queued
        db.session.get(Device, device_id).status = "unenrolled"
        db.session.commit()
    again = enroll("device", collect_inventory=False, udid=first.udid)
    assert _device_id(http_api, "udid", again.udid) == device_id, "the UDID's row is reused"
    assert [e.request_type for e in again.poll(device_http)] == INVENTORY_ROUND
    ended = http_api("GET", f"/commands/{stale}").json()
    assert (ended["status"], ended["error_chain"]) == ("error", ENROLLMENT_ENDED_ERROR_CHAIN)


@pytest.mark.parametrize("managed_apple_id", ["no-at-sign", "a b@example.org", "x" * 320 + "@example.org"])
def test_minting_refuses_what_is_not_a_managed_apple_id(http_api, managed_apple_id):
    response = http_api("POST", "/enrollment-profiles", json={"enrollment_type": "user", "managed_apple_id": managed_apple_id})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_managed_apple_id"
