"""What a hostile user-enrolled phone volunteers in its answers: data User Enrollment forbids (a serial number,
an IMEI, a personal app) where the sanitiser did not look. None of it is stored (in any table), returned by the
API or shown on the admin device page."""
import plistlib

from sqlalchemy import select, text

from mdm_core.simulator.device import COMMAND_CONTENT_TYPE
from portal.extensions import db
from portal.models import Device
from tests.fuzz.device_requests import signed_put

SN = "CANARYSERIAL01"
IMEI = "359999999999991"
PERSONAL = "com.personal.canary"


def _stored_anywhere(app, needle: str) -> list[str]:
    """The tables whose rows hold ``needle`` (commands' own payloads aside: they are what the server sent)."""
    found = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            columns = [c for c in table.columns if not (table.name == "commands" and c.name == "payload")]
            for row in db.session.execute(select(*columns)).all():
                if needle in repr(tuple(row)):
                    found.append(table.name)
                    break
    return found


def _answer(client, phone, uuids, request_type, answer):
    body = plistlib.dumps({"Status": "Acknowledged", "CommandUUID": uuids[request_type],
                           "EnrollmentID": phone.enrollment_id, **answer})
    response = signed_put(client, phone, "/mdm/connect", body, COMMAND_CONTENT_TYPE, None)
    assert response.status_code == 200, response.data


def _device_id(app, phone) -> int:
    with app.app_context():
        return db.session.scalar(select(Device.id).where(Device.enrollment_id == phone.enrollment_id))


def test_security_info_keeps_no_serial_number_or_imei_a_phone_volunteers(app, client, sent_inventory, api_token,
                                                                         admin_client):
    """SecurityInfo is cleaned with a deny-list (the 5 forbidden passcode keys): any other key a phone adds,
    such as SerialNumber or IMEI, is stored, returned by the API and shown on the admin device page."""
    phone, uuids = sent_inventory
    _answer(client, phone, uuids, "SecurityInfo",
            {"SecurityInfo": {"HardwareEncryptionCaps": 3, "SerialNumber": SN, "IMEI": IMEI}})
    device_id = _device_id(app, phone)
    token = api_token("reader")
    api = client.get(f"/api/v1/devices/{device_id}", headers={"Authorization": f"Bearer {token}"}).get_data(as_text=True)
    page = admin_client.get(f"/admin/devices/{device_id}").get_data(as_text=True)
    assert {"stored": _stored_anywhere(app, SN), "api": SN in api, "admin page": SN in page} == \
        {"stored": [], "api": False, "admin page": False}


def test_device_information_keeps_no_serial_number_nested_in_an_allowed_answer(app, client, sent_inventory, api_token,
                                                                               admin_client):
    """DeviceInformation keeps allowed top-level keys whatever they hold: a SerialNumber/IMEI nested in
    OrganizationInfo or MDMOptions (dictionaries whose subkeys the schema lists) is stored and shown."""
    phone, uuids = sent_inventory
    _answer(client, phone, uuids, "DeviceInformation",
            {"QueryResponses": {"OSVersion": "17.5", "OrganizationInfo": {"OrganizationName": "X", "SerialNumber": SN},
                                "MDMOptions": {"IMEI": IMEI}}})
    device_id = _device_id(app, phone)
    token = api_token("reader")
    api = client.get(f"/api/v1/devices/{device_id}", headers={"Authorization": f"Bearer {token}"}).get_data(as_text=True)
    page = admin_client.get(f"/admin/devices/{device_id}").get_data(as_text=True)
    assert {"stored": _stored_anywhere(app, SN) + _stored_anywhere(app, IMEI), "api": SN in api or IMEI in api,
            "admin page": SN in page or IMEI in page} == {"stored": [], "api": False, "admin page": False}


def test_a_managed_app_list_entry_without_status_does_not_make_a_personal_app_managed(app, client, sent_inventory,
                                                                                      api_token):
    """Status is required in every ManagedApplicationList entry (application.managed.list.yaml); an entry
    without one is taken as the organisation's app, and the InstalledApplicationList filter, which trusts that
    list, then stores the personal app (device_apps, inventory_changes) and the API shows it."""
    phone, uuids = sent_inventory
    _answer(client, phone, uuids, "ManagedApplicationList", {"ManagedApplicationList": {PERSONAL: {}}})
    _answer(client, phone, uuids, "InstalledApplicationList",
            {"InstalledApplicationList": [{"Identifier": PERSONAL, "Name": "Personal diary", "Version": "1"}]})
    device_id = _device_id(app, phone)
    token = api_token("reader")
    api = client.get(f"/api/v1/devices/{device_id}", headers={"Authorization": f"Bearer {token}"}).get_data(as_text=True)
    assert {"stored": _stored_anywhere(app, PERSONAL), "api": PERSONAL in api} == {"stored": [], "api": False}


def test_an_app_command_answer_keeps_no_app_the_command_did_not_ask_about(app, client, enroll, api_token, admin_client):
    """ManagedApplicationAttributes asks about named (managed) apps; a phone that also lists a personal app in
    its answer has that personal app stored in commands.result, returned by GET /api/v1/commands/<uuid> and shown
    in the admin device page's command history. No cleaner runs for this request type under User Enrollment."""
    phone = enroll()
    device_id = _device_id(app, phone)
    token = api_token("ops")
    queued = client.post(f"/api/v1/devices/{device_id}/commands", headers={"Authorization": f"Bearer {token}"},
                         json={"request_type": "ManagedApplicationAttributes", "Identifiers": ["com.example.work"]})
    assert queued.status_code == 201, queued.get_data(as_text=True)
    command_uuid = queued.get_json()["command_uuid"]
    with app.app_context():
        db.session.execute(text("UPDATE commands SET status = 'sent' WHERE command_uuid = :u"), {"u": command_uuid})
        db.session.commit()
    _answer(client, phone, {"ManagedApplicationAttributes": command_uuid}, "ManagedApplicationAttributes",
            {"ApplicationAttributes": [{"Identifier": "com.example.work", "Attributes": {"Removable": True}},
                                       {"Identifier": PERSONAL, "Attributes": {"Removable": True}}]})
    api = client.get(f"/api/v1/commands/{command_uuid}", headers={"Authorization": f"Bearer {token}"}).get_data(as_text=True)
    page = admin_client.get(f"/admin/devices/{device_id}").get_data(as_text=True)
    assert {"stored": _stored_anywhere(app, PERSONAL), "api": PERSONAL in api, "admin page": PERSONAL in page} == \
        {"stored": [], "api": False, "admin page": False}


def test_list_answers_keep_no_serial_number_or_imei_nested_in_their_entries(app, client, sent_inventory, api_token,
                                                                            admin_client):
    """CertificateList had no cleaner under User Enrollment, and the ProfileList and ManagedApplicationList cleaners
    kept what an entry nests (a profile's PayloadContent and SignerCertificates, an app's dictionary) whole: a
    SerialNumber or IMEI a phone put there was stored in commands.result, returned by GET /api/v1/commands/<uuid>
    and shown in the admin device page's command history."""
    phone, uuids = sent_inventory
    _answer(client, phone, uuids, "CertificateList", {"CertificateList": [
        {"CommonName": "Work CA", "IsIdentity": False, "Data": b"not a certificate", "SerialNumber": SN}]})
    _answer(client, phone, uuids, "ProfileList", {"ProfileList": [
        {"PayloadIdentifier": "com.example.wifi", "IsManaged": True, "SignerCertificates": [{"IMEI": IMEI}],
         "PayloadContent": [{"PayloadType": "com.apple.wifi.managed", "SerialNumber": SN}]}]})
    _answer(client, phone, uuids, "ManagedApplicationList",
            {"ManagedApplicationList": {"com.example.work": {"Status": "Managed", "IMEI": IMEI}}})
    device_id = _device_id(app, phone)
    token = api_token("reader")
    api = "".join(client.get(path, headers={"Authorization": f"Bearer {token}"}).get_data(as_text=True)
                  for path in [f"/api/v1/devices/{device_id}"] + [f"/api/v1/commands/{uuids[request_type]}" for
                                                                  request_type in ("CertificateList", "ProfileList",
                                                                                   "ManagedApplicationList")])
    page = admin_client.get(f"/admin/devices/{device_id}").get_data(as_text=True)
    assert "com.example.wifi" in page and "com.example.work" in api, "the allowed answers are kept"
    assert {"stored": _stored_anywhere(app, SN) + _stored_anywhere(app, IMEI), "api": SN in api or IMEI in api,
            "admin page": SN in page or IMEI in page} == {"stored": [], "api": False, "admin page": False}
