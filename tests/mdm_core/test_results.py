"""Sanitising command reports by enrollment type, and reading them as inventory."""
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from mdm_core.commands import inventory_commands
from mdm_core.results import ResultError, parse_inventory, sanitize_report

SCHEMAS = Path(__file__).resolve().parents[2] / ".." / "shared" / "apple-device-management"
ENVELOPE = {"Status": "Acknowledged", "CommandUUID": "C-1"}


def test_user_enrollment_drops_forbidden_device_information_even_when_volunteered():
    report = {**ENVELOPE, "EnrollmentID": "E-1", "QueryResponses": {
        "OSVersion": "17.5", "SerialNumber": "F2LX", "UDID": "0000-1", "IMEI": "35 000", "DeviceName": "Anna's"}}
    result = sanitize_report("DeviceInformation", "user", report)
    assert result.data["QueryResponses"] == {"OSVersion": "17.5", "DeviceName": "Anna's"}
    assert set(result.dropped) == {"QueryResponses.SerialNumber", "QueryResponses.UDID", "QueryResponses.IMEI"}
    assert "F2LX" not in repr(result)


def test_device_enrollment_keeps_hardware_identifiers():
    report = {**ENVELOPE, "UDID": "0000-1", "QueryResponses": {"SerialNumber": "F2LX"}}
    assert sanitize_report("DeviceInformation", "device", report).data["QueryResponses"] == {"SerialNumber": "F2LX"}


def test_keys_outside_the_allow_list_are_dropped_and_user_enrollment_drops_udid():
    report = {**ENVELOPE, "EnrollmentID": "E-1", "UDID": "0000-1", "SerialNumber": "F2LX", "ProfileList": []}
    data = sanitize_report("ProfileList", "user", report).data
    assert data == {**ENVELOPE, "EnrollmentID": "E-1", "ProfileList": []}


def test_security_info_hides_passcode_details_under_user_enrollment():
    report = {**ENVELOPE, "SecurityInfo": {"PasscodePresent": True, "AutoLockTime": 60, "HardwareEncryptionCaps": 3}}
    assert sanitize_report("SecurityInfo", "user", report).data["SecurityInfo"] == {"HardwareEncryptionCaps": 3}
    assert sanitize_report("SecurityInfo", "device", report).data["SecurityInfo"]["AutoLockTime"] == 60


def test_user_enrollment_keeps_only_managed_apps_and_profiles():
    installed = {**ENVELOPE, "InstalledApplicationList": [{"Identifier": "com.corp.mail"}, {"Identifier": "com.me.game"}]}
    data = sanitize_report("InstalledApplicationList", "user", installed, managed_app_identifiers={"com.corp.mail"}).data
    assert data["InstalledApplicationList"] == [{"Identifier": "com.corp.mail"}]
    managed = {**ENVELOPE, "ManagedApplicationList": {"com.corp.mail": {"Status": "Managed"},
                                                      "com.me.game": {"Status": "UserInstalledApp"}}}
    assert list(sanitize_report("ManagedApplicationList", "user", managed).data["ManagedApplicationList"]) == ["com.corp.mail"]
    profiles = {**ENVELOPE, "ProfileList": [{"PayloadIdentifier": "a", "IsManaged": True},
                                            {"PayloadIdentifier": "mine", "IsManaged": False}]}
    assert [p["PayloadIdentifier"] for p in sanitize_report("ProfileList", "user", profiles).data["ProfileList"]] == ["a"]


def test_a_report_that_is_not_a_dictionary_is_refused():
    with pytest.raises(ResultError):
        sanitize_report("ProfileList", "user", ["not", "a", "dict"])


def test_parse_inventory_reads_records_and_rejects_wrong_shapes():
    profiles = parse_inventory("ProfileList", {"ProfileList": [
        {"PayloadIdentifier": "org.x", "PayloadDisplayName": "X" * 400, "PayloadContent": [{"PayloadType": "com.apple.wifi.managed"}]},
        {"PayloadDisplayName": "no identifier"}, "junk"]})
    assert [p.identifier for p in profiles.records] == ["org.x"]
    assert len(profiles.records[0].display_name) == 255
    assert profiles.records[0].payload_types == ("com.apple.wifi.managed",)
    with pytest.raises(ResultError, match="ProfileList must be an array"):
        parse_inventory("ProfileList", {"ProfileList": {}})
    with pytest.raises(ResultError, match="not an inventory command"):
        parse_inventory("EraseDevice", {})


def test_certificate_list_is_read_by_fingerprint_with_expiry(ca_identity):
    der = ca_identity.certificate.public_bytes(serialization.Encoding.DER)
    expected_name = ca_identity.certificate.subject.rfc4514_string().split("CN=")[1].split(",")[0]
    inventory = parse_inventory("CertificateList", {"CertificateList": [
        {"Data": der, "IsIdentity": False}, {"Data": b"not a certificate", "CommonName": "odd"}]})
    first, second = inventory.records
    assert first.common_name == expected_name and first.not_after is not None
    assert second.common_name == "odd" and second.not_after is None and len(second.fingerprint) == 64


def test_inventory_round_asks_managed_apps_before_installed_apps_and_no_forbidden_queries():
    types = [c["RequestType"] for c in inventory_commands("user")]
    assert types.index("ManagedApplicationList") < types.index("InstalledApplicationList")
    assert "SerialNumber" not in inventory_commands("user")[0]["Queries"]
    assert "SerialNumber" in inventory_commands("device")[0]["Queries"]


def test_security_info_keeps_only_what_apples_schema_lets_a_user_enrolled_iphone_reveal():
    """The keep-list is the schema's answer (generated into the tables): its forbidden keys, the keys it lists
    for macOS only and any key a device adds are dropped, at every depth."""
    path = SCHEMAS / "mdm" / "commands" / "information.security.yaml"
    if not path.exists():
        pytest.skip("Apple's schemas are not beside the repository")
    keys = yaml.safe_load(path.read_text())["responsekeys"][0]["subkeys"]
    forbidden = {k["key"] for k in keys
                 if ((k.get("supportedOS") or {}).get("iOS") or {}).get("userenrollment", {}).get("mode") == "forbidden"}
    assert forbidden >= {"PasscodePresent", "AutoLockTime"}
    answer = {"SecurityInfo": {**dict.fromkeys(forbidden, True), "PasscodeCompliant": True, "FDE_Enabled": True,
                               "SerialNumber": "F2LXSECRET",
                               "ManagementStatus": {"IsUserEnrollment": True, "IMEI": "35 000000 000000 0"}}}
    report = sanitize_report("SecurityInfo", "user", answer)
    assert report.data["SecurityInfo"] == {"PasscodeCompliant": True, "ManagementStatus": {"IsUserEnrollment": True}}
    assert set(report.dropped) == {*(f"SecurityInfo.{k}" for k in forbidden), "SecurityInfo.FDE_Enabled",
                                   "SecurityInfo.SerialNumber", "SecurityInfo.ManagementStatus.IMEI"}


def test_a_device_information_answer_keeps_nothing_unlisted_nested_in_an_allowed_one():
    """Only the top-level answers were checked: a SerialNumber inside OrganizationInfo was stored and shown."""
    answer = {"QueryResponses": {"OSVersion": "17.5", "OrganizationInfo": {"OrganizationName": "Example",
                                                                            "SerialNumber": "F2LXSECRET"},
                                 "MDMOptions": {"IMEI": "35 000000 000000 0"}, "ModelName": {"SerialNumber": "x"}}}
    report = sanitize_report("DeviceInformation", "user", answer)
    assert report.data["QueryResponses"] == {"OSVersion": "17.5", "OrganizationInfo": {"OrganizationName": "Example"},
                                             "MDMOptions": {}}
    assert "F2LXSECRET" not in repr(report.data) and "35 000000" not in repr(report.data)


def test_app_answers_keep_only_the_organisations_apps():
    """A ManagedApplicationList entry without Status made a personal app managed; the answers to the app
    commands kept every app a device listed."""
    listed = sanitize_report("ManagedApplicationList", "user", {"ManagedApplicationList": {
        "com.personal.canary": {}, "com.example.work": {"Status": "Managed"}}})
    assert list(listed.data["ManagedApplicationList"]) == ["com.example.work"]
    for request_type, key in (("ManagedApplicationAttributes", "ApplicationAttributes"),
                              ("ManagedApplicationConfiguration", "ApplicationConfigurations"),
                              ("ManagedApplicationFeedback", "ManagedApplicationFeedback")):
        answer = {key: [{"Identifier": "com.example.work"}, {"Identifier": "com.personal.canary"}]}
        report = sanitize_report(request_type, "user", answer, managed_app_identifiers={"com.example.work"})
        assert report.data[key] == [{"Identifier": "com.example.work"}], request_type
        assert sanitize_report(request_type, "device", answer).data[key] == answer[key], "legacy: as answered"


def test_an_app_answer_entry_whose_identifier_is_not_text_is_dropped_not_a_500():
    """A set lookup of an array Identifier was a TypeError."""
    answer = {"ApplicationAttributes": [{"Identifier": ["com.example.work"]}, {"Identifier": "com.example.work"}]}
    report = sanitize_report("ManagedApplicationAttributes", "user", answer, managed_app_identifiers={"com.example.work"})
    assert report.data["ApplicationAttributes"] == [{"Identifier": "com.example.work"}]


@pytest.mark.parametrize("key", ["QueryResponses", "SecurityInfo", "ProfileList", "InstalledApplicationList",
                                 "ManagedApplicationList"])
def test_a_user_enrollment_response_of_the_wrong_shape_is_dropped_whole(key):
    request_type = {"QueryResponses": "DeviceInformation"}.get(key, key)
    identifiers = {"SerialNumber": "F2LXXXXX", "IMEI": "35 000000 000000 0", "UDID": "00008030-AAAA"}
    hostile = identifiers if key in ("ProfileList", "InstalledApplicationList") else [identifiers]
    report = {"Status": "Acknowledged", "CommandUUID": "C", "EnrollmentID": "E", key: hostile}
    sanitized = sanitize_report(request_type, "user", report)
    assert key not in sanitized.data
    assert "F2LXXXXX" not in repr(sanitized.data) and key in sanitized.dropped


def test_list_entries_keep_only_the_keys_apple_defines():
    report = {"Status": "Acknowledged", "CommandUUID": "C", "EnrollmentID": "E",
              "ProfileList": [{"PayloadIdentifier": "org.example.p", "IsManaged": True, "SerialNumber": "F2LXXXXX"}]}
    sanitized = sanitize_report("ProfileList", "user", report)
    assert sanitized.data["ProfileList"] == [{"PayloadIdentifier": "org.example.p", "IsManaged": True}]
    apps = {"Status": "Acknowledged", "CommandUUID": "C", "EnrollmentID": "E",
            "InstalledApplicationList": [{"Identifier": "com.example.work", "Name": "Work", "IMEI": "35 0000"}]}
    sanitized = sanitize_report("InstalledApplicationList", "user", apps, managed_app_identifiers={"com.example.work"})
    assert sanitized.data["InstalledApplicationList"] == [{"Identifier": "com.example.work", "Name": "Work"}]


@pytest.mark.parametrize(("filename", "top", "keys"), [
    ("profile.list.yaml", "ProfileList", "PROFILE_ENTRY_KEYS"),
    ("application.installed.list.yaml", "InstalledApplicationList", "APP_ENTRY_KEYS"),
])
def test_entry_keys_match_apples_schema(filename, top, keys):
    import mdm_core.results as results

    path = Path(__file__).resolve().parents[2] / ".." / "shared" / "apple-device-management" / "mdm" / "commands" / filename
    if not path.exists():
        pytest.skip("Apple's schema (../shared) is not available")
    response = next(k for k in yaml.safe_load(path.read_text())["responsekeys"] if k["key"] == top)
    assert {k["key"] for k in response["subkeys"][0]["subkeys"]} == getattr(results, keys)


def test_device_information_asked_for_some_keys_replaces_only_those_facts():
    stored = {"OSVersion": "17.5.1", "DeviceName": "Phone", "IsRoaming": False}
    answer = {"QueryResponses": {"OSVersion": "18.0"}}
    asked = parse_inventory("DeviceInformation", answer, queries=["OSVersion", "IsRoaming"])
    assert asked.facts_after(stored) == {"DeviceName": "Phone", "OSVersion": "18.0"}
    assert parse_inventory("DeviceInformation", answer).facts_after(stored) == {"OSVersion": "18.0"}
    assert parse_inventory("SecurityInfo", {"SecurityInfo": {"PasscodePresent": True}},
                           queries=["OSVersion"]).queries is None
