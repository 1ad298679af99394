"""A binary plist can carry what neither an XML plist nor PostgreSQL's text can store (NUL and other
controls, U+FFFF, NaN). Found by the fuzzer (tests/fuzz): an inventory answer holding one was a 500 once
the report was written back as XML. Identifiers holding one are refused (400); answers are stored with
U+FFFD in their place."""
import base64
import plistlib

import pytest
from sqlalchemy import select

from mdm_core import cms
from portal.extensions import db
from portal.models import Command, Device, DeviceInventory

CONNECT = ("/mdm/connect", "application/x-apple-aspen-mdm")
CHECKIN = ("/mdm/checkin", "application/x-apple-aspen-mdm-checkin")
ANSWERS = {
    "DeviceInformation": {"QueryResponses": {"DeviceName": "a\x00b", "OSVersion": "17\x01", "BatteryLevel": float("nan"),
                                             "Model\x1f": "\uffff"}},
    "SecurityInfo": {"SecurityInfo": {"HardwareEncryptionCaps": float("inf"), "ManagementStatus": {"IsUserEnrollment": "\x00"}}},
    "ProfileList": {"ProfileList": [{"PayloadIdentifier": "org.example\x00", "PayloadDisplayName": "\x08"}]},
    "ManagedApplicationList": {"ManagedApplicationList": {"com.example\x00": {"Status": "Managed\x00"}}},
    "CertificateList": {"CertificateList": [{"Data": b"not a certificate", "CommonName": "\x00"}]},
}


def _put(client, phone, path_and_type, message):
    body = plistlib.dumps(message, fmt=plistlib.FMT_BINARY)  # binary: XML cannot even carry these
    signature = base64.b64encode(cms.sign(body, phone.identity, detached=True)).decode()
    return client.put(path_and_type[0], data=body, headers={"Content-Type": path_and_type[1], "Mdm-Signature": signature})


@pytest.mark.parametrize("request_type", sorted(ANSWERS))
def test_an_answer_with_unstorable_text_is_stored_with_replacement_characters(app, client, sent_inventory, request_type):
    phone, uuids = sent_inventory
    response = _put(client, phone, CONNECT, {"Status": "Acknowledged", "CommandUUID": uuids[request_type],
                                             "EnrollmentID": phone.enrollment_id, **ANSWERS[request_type]})
    assert response.status_code == 200, response.data
    with app.app_context():
        command = db.session.scalar(select(Command).where(Command.command_uuid == uuids[request_type]))
        assert command.status == "acknowledged"
        stored = plistlib.loads(command.result)
        assert "\x00" not in repr(stored) and "\ufffd" in repr(stored)


def test_facts_with_unstorable_text_reach_the_inventory_replaced(app, client, sent_inventory):
    phone, uuids = sent_inventory
    _put(client, phone, CONNECT, {"Status": "Acknowledged", "CommandUUID": uuids["DeviceInformation"],
                                  "EnrollmentID": phone.enrollment_id, **ANSWERS["DeviceInformation"]})
    with app.app_context():
        device = db.session.scalar(select(Device))
        facts = db.session.scalar(select(DeviceInventory.facts))
    assert device.device_name == "a\ufffdb" and facts["BatteryLevel"] == "nan"


@pytest.mark.parametrize("key", ["CommandUUID", "EnrollmentID"])
def test_a_report_whose_identifier_holds_a_control_character_gets_400(app, client, sent_inventory, key):
    phone, uuids = sent_inventory
    report = {"Status": "Acknowledged", "CommandUUID": uuids["SecurityInfo"], "EnrollmentID": phone.enrollment_id}
    report[key] += "\x00"
    response = _put(client, phone, CONNECT, report)
    assert response.status_code == 400 and b"control character" in response.data


@pytest.mark.parametrize("key", ["DeviceName", "OSVersion", "EnrollmentID", "Topic"])
def test_a_check_in_whose_text_holds_a_control_character_gets_400(app, client, enroll, key):
    phone = enroll()
    message = phone.authenticate_message()
    message[key] = message.get(key, "iPhone") + "\x00"
    response = _put(client, phone, CHECKIN, message)
    assert response.status_code == 400 and b"control character" in response.data


def test_numbers_past_their_columns_are_not_stored(app, client, sent_inventory):
    """A plist integer reaches 2**64 - 1; the bundle size column holds 63 bits and the profile version 31."""
    phone, uuids = sent_inventory
    for request_type, answer in (
            ("ManagedApplicationList", {"ManagedApplicationList": {"com.example.app": {"Status": "Managed"}}}),
            ("InstalledApplicationList", {"InstalledApplicationList": [{"Identifier": "com.example.app",
                                                                        "BundleSize": 2 ** 64 - 1}]}),
            ("ProfileList", {"ProfileList": [{"PayloadIdentifier": "org.example.p", "PayloadVersion": 2 ** 31}]})):
        response = _put(client, phone, CONNECT, {"Status": "Acknowledged", "CommandUUID": uuids[request_type],
                                                 "EnrollmentID": phone.enrollment_id, **answer})
        assert response.status_code == 200, (request_type, response.data)
    with app.app_context():
        from portal.models import DeviceApp, DeviceProfile

        assert db.session.scalar(select(DeviceApp.bundle_size)) is None
        assert db.session.scalar(select(DeviceProfile.version)) is None


def test_an_answer_too_large_once_written_as_xml_keeps_its_inventory_and_the_pages_that_show_it_work(
        app, client, sent_inventory, api_token, admin_client):
    """A binary plist refers to one value many times over for a few bytes each; written back as XML each reference
    is the value again (and indented): an answer of well under the 4 MiB report limit was stored as many
    megabytes more, which the device page and GET /api/v1/commands/<uuid> then refused to read (PlistError, a 500
    on every visit while it was among the device's last ten commands)."""
    from mdm_core.commands import MAX_REPORT_BYTES
    from portal.models import DeviceCertificate

    phone, uuids = sent_inventory
    entries = [{"CommonName": "Work CA", "IsIdentity": False, "Data": b"not a certificate" * 5} for _ in range(20_000)]
    response = _put(client, phone, CONNECT, {"Status": "Acknowledged", "CommandUUID": uuids["CertificateList"],
                                             "EnrollmentID": phone.enrollment_id, "CertificateList": entries})
    assert response.status_code == 200, response.data
    with app.app_context():
        device_id = db.session.scalar(select(Device.id))
        stored = db.session.scalar(select(Command.result).where(Command.command_uuid == uuids["CertificateList"]))
        assert db.session.scalar(select(DeviceCertificate.common_name)) == "Work CA", "the inventory is kept"
    assert len(stored) <= MAX_REPORT_BYTES
    page = admin_client.get(f"/admin/devices/{device_id}")
    api = client.get(f"/api/v1/commands/{uuids['CertificateList']}",
                     headers={"Authorization": f"Bearer {api_token('reader')}"})
    assert (page.status_code, api.status_code, api.json["status"]) == (200, 200, "acknowledged")
    assert "not kept" in api.json["result"]["NotKept"]


def test_an_error_chain_sharing_one_long_text_many_times_gets_400_and_stores_nothing(app, client, sent_inventory):
    """A binary plist's ErrorChain entries can all refer to one long string: a 0.2 MB report was stored as a 20 MB
    error chain (JSON writes the text at each place); at the 4 MiB report limit, gigabytes, which exhaust memory."""
    phone, uuids = sent_inventory
    text = "the same long description " * 8_000
    response = _put(client, phone, CONNECT, {
        "Status": "Error", "CommandUUID": uuids["SecurityInfo"], "EnrollmentID": phone.enrollment_id,
        "ErrorChain": [{"ErrorCode": index, "ErrorDomain": "MCMDMErrorDomain", "LocalizedDescription": text}
                       for index in range(100)]})
    assert response.status_code == 400 and b"text and data" in response.data
    with app.app_context():
        command = db.session.scalar(select(Command).where(Command.command_uuid == uuids["SecurityInfo"]))
        assert (command.status, command.error_chain) == ("sent", None)
