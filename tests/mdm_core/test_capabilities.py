"""The shipped tables match Apple's schemas, and the rules read from them match the reference."""
from __future__ import annotations

import plistlib

import pytest

from mdm_core import capabilities
from mdm_core.capabilities import (
    CapabilityError,
    allowed_device_information_queries,
    check_command,
    checkin_forbidden_keys,
    command_spec,
    forbidden_device_information_keys,
    is_command_allowed,
    payload_spec,
)
from mdm_core.plist import MAX_DEPTH
from tests.mdm_core.schema_tables import SCHEMA_DIR, assert_generated, assert_indented_and_sorted, needs_schemas


@needs_schemas
def test_shipped_tables_are_exactly_what_the_generator_derives_from_the_schemas():
    assert_generated("generate_capability_tables", "capabilities.json")


@needs_schemas
def test_schema_commit_is_the_commit_of_the_schema_copy():
    assert capabilities.SCHEMA_COMMIT == (SCHEMA_DIR / "SOURCE_COMMIT").read_text().strip()


def test_shipped_json_is_indented_and_sorted():
    assert_indented_and_sorted("capabilities.json")


@pytest.mark.parametrize("request_type", ["EraseDevice", "ClearPasscode", "EnableLostMode", "DeviceLocation",
                                          "RestartDevice", "RequestUnlockToken", "ScheduleOSUpdate"])
def test_device_wide_commands_are_refused_for_user_enrollment(request_type):
    assert not is_command_allowed(request_type, "user")


@pytest.mark.parametrize("request_type", ["InstallProfile", "RemoveProfile", "ProfileList", "DeviceInformation",
                                          "InstalledApplicationList", "InstallApplication", "CertificateList",
                                          "SecurityInfo", "DeviceLock"])
def test_organisation_data_commands_are_allowed_for_user_enrollment(request_type):
    assert is_command_allowed(request_type, "user")


def test_device_enrollment_allows_unsupervised_commands_but_not_supervised_or_dep_ones():
    assert is_command_allowed("EraseDevice", "device")
    assert is_command_allowed("ClearPasscode", "device")
    assert command_spec("EnableLostMode").supervised_only
    assert not is_command_allowed("EnableLostMode", "device")
    assert command_spec("DeviceConfigured").requires_dep
    assert not is_command_allowed("DeviceConfigured", "device")


def test_macos_only_and_unknown_commands_are_refused_for_both_types():
    assert command_spec("RotateFileVaultKey").ios_supported is False
    for enrollment_type in ("user", "device"):
        assert not is_command_allowed("RotateFileVaultKey", enrollment_type)
        assert not is_command_allowed("NoSuchCommand", enrollment_type)
    assert command_spec("NoSuchCommand") is None


def test_command_spec_carries_introduced_version_and_keys():
    spec = command_spec("RemoveProfile")
    assert spec.introduced == "4.0"
    assert spec.user_enrollment == "allowed"
    assert spec.keys["Identifier"].required and spec.keys["Identifier"].type == "<string>"


def test_unknown_enrollment_type_is_a_clear_error():
    with pytest.raises(CapabilityError, match="enrollment type"):
        is_command_allowed("ProfileList", "supervised")


def test_hardware_identifier_queries_are_forbidden_for_user_enrollment():
    forbidden = forbidden_device_information_keys("user")
    assert {"UDID", "SerialNumber", "IMEI", "MEID", "WiFiMAC", "PhoneNumber", "ICCID"} <= forbidden
    allowed = allowed_device_information_queries("user")
    assert not forbidden & set(allowed)
    assert {"OSVersion", "ModelName", "ProductName", "DevicePropertiesAttestation"} <= set(allowed)


def test_user_enrollment_query_list_is_the_reference_list_in_schema_order():
    assert allowed_device_information_queries("user") == (
        "OrganizationInfo", "MDMOptions", "DeviceName", "OSVersion", "SupplementalOSVersionExtra", "BuildVersion",
        "SupplementalBuildVersion", "ModelName", "Model", "ModelNumber", "ProductName", "DeviceCapacity",
        "AvailableDeviceCapacity", "CellularTechnology", "BatteryLevel", "IsSupervised", "IsMultiUser",
        "IsDeviceLocatorServiceEnabled", "EASDeviceIdentifier", "DiagnosticSubmissionEnabled",
        "AppAnalyticsEnabled", "TimeZone", "IsNetworkTethered", "DevicePropertiesAttestation")


def test_device_enrollment_may_query_identifiers_but_not_macos_only_keys():
    allowed = allowed_device_information_queries("device")
    assert {"UDID", "SerialNumber", "IMEI"} <= set(allowed)
    assert "HasBattery" not in allowed and "HasBattery" not in forbidden_device_information_keys("device")


def test_checkin_hardware_identifiers_are_never_stored_for_user_enrollment():
    assert checkin_forbidden_keys("Authenticate", "user") == {"UDID", "SerialNumber", "IMEI", "MEID"}
    assert {"UDID", "UnlockToken"} <= checkin_forbidden_keys("TokenUpdate", "user")
    assert "EnrollmentID" not in checkin_forbidden_keys("TokenUpdate", "user")
    assert checkin_forbidden_keys("Authenticate", "device") == frozenset()


def test_checkin_enrollment_user_id_is_not_an_ios_key():
    spec = capabilities.checkin_spec("TokenUpdate")
    assert spec.keys["EnrollmentID"].ios_supported
    assert not spec.keys["EnrollmentUserID"].ios_supported


def test_unknown_checkin_message_type_is_a_clear_error():
    with pytest.raises(CapabilityError, match="MessageType"):
        checkin_forbidden_keys("Hello", "user")


def test_full_device_vpn_is_forbidden_but_per_app_vpn_is_allowed():
    assert payload_spec("com.apple.vpn.managed").user_enrollment == "forbidden"
    assert payload_spec("com.apple.vpn.managed.applayer").user_enrollment == "allowed"


def test_profile_removal_cannot_be_disallowed_under_user_enrollment():
    assert capabilities.TOP_LEVEL_SPEC.keys["PayloadRemovalDisallowed"].user_enrollment == "forbidden"


def test_wifi_proxy_keys_are_forbidden_but_the_payload_is_allowed():
    wifi = payload_spec("com.apple.wifi.managed")
    assert wifi.user_enrollment == "allowed"
    assert wifi.keys["ProxyType"].user_enrollment == "forbidden"
    assert wifi.keys["SSID_STR"].user_enrollment == "allowed"


def test_payload_specs_include_the_common_payload_keys():
    keys = payload_spec("com.apple.security.scep").keys
    assert keys["PayloadUUID"].required and keys["PayloadVersion"].rangelist == (1,)


def test_check_command_accepts_a_valid_user_enrollment_command():
    assert check_command("user", {"RequestType": "RemoveProfile", "Identifier": "com.example.wifi"}) == []


def test_check_command_reports_forbidden_command_with_reason():
    [problem] = check_command("user", {"RequestType": "EraseDevice"})
    assert problem.severity == "error" and "forbidden under User Enrollment" in problem.message


def test_check_command_reports_forbidden_key_unknown_key_missing_key_and_bool_for_integer():
    problems = check_command("user", {"RequestType": "InstallApplication", "iTunesStoreID": True,
                                      "ChangeManagementState": "Managed", "Surprise": 1})
    by_key = {problem.key: problem.message for problem in problems}
    assert "must be an integer" in by_key["iTunesStoreID"]
    assert "forbidden under User Enrollment" in by_key["ChangeManagementState"]
    assert "unknown key" in by_key["Surprise"]
    assert "missing required key" in check_command("user", {"RequestType": "RemoveProfile"})[0].message


def test_check_command_refuses_forbidden_device_information_queries_for_user_only():
    command = {"RequestType": "DeviceInformation", "Queries": ["UDID", "OSVersion"]}
    [problem] = check_command("user", command)
    assert problem.key == "Queries[0]" and problem.severity == "error"
    assert check_command("device", command) == []


def test_check_command_checks_settings_items_by_their_item_value():
    command = {"RequestType": "Settings", "Settings": [
        {"Item": "Wallpaper", "Image": b"png", "Where": 1},
        {"Item": "ApplicationAttributes", "Identifier": "com.example.app", "Attributes": {}},
        {"Item": "NoSuchSetting"}, "not a dictionary"]}
    problems = check_command("user", command)
    assert [problem.key for problem in problems] == ["Settings[0].Wallpaper", "Settings[2].Item", "Settings[3]"]


@pytest.mark.parametrize("command", [None, [], "EraseDevice", {"RequestType": 5}, {}])
def test_check_command_turns_hostile_shapes_into_problems(command):
    [problem] = check_command("user", command)
    assert problem.severity == "error"


def test_check_command_caps_problems_for_huge_inputs():
    command = {"RequestType": "ManagedApplicationList", "Identifiers": list(range(100_000))}
    problems = check_command("user", command)
    assert len(problems) == capabilities.MAX_PROBLEMS and problems[-1] is capabilities.UNCHECKED


def test_a_query_user_enrollment_forbids_is_not_hidden_behind_a_flood_of_warnings():
    """250 unknown queries (warnings) filled the list; checking stopped there and UDID after them was sent."""
    queries = [f"NoSuchQuery{index}" for index in range(250)] + ["UDID", "SerialNumber"]
    problems = check_command("user", {"RequestType": "DeviceInformation", "Queries": queries})
    assert problems[-1] is capabilities.UNCHECKED and problems[-1].severity == "error"
    assert problems[-1].forbids_user_enrollment


def test_types_map_to_python_types_and_booleans_are_not_numbers():
    assert capabilities.matches_type(1.5, "<real>") and capabilities.matches_type(2, "<real>")
    assert not capabilities.matches_type(True, "<real>")
    assert not capabilities.matches_type(1, "<boolean>")
    assert capabilities.matches_type(b"", "<data>") and not capabilities.matches_type("", "<data>")
    assert capabilities.matches_type({"a": 1}, "<dictionary>") and not capabilities.matches_type([], "<dictionary>")
    assert capabilities.matches_type({"a": [1, b""]}, "<any>"), "a free-form value takes any plist"
    assert not capabilities.matches_type(object(), "<any>") and not capabilities.matches_type({"a": None}, "<any>")


def test_problem_to_dict_has_exactly_the_api_fields():
    problem = capabilities.Problem("error", "ProxyType", "forbidden", "com.apple.wifi.managed", True)
    assert problem.to_dict() == {"severity": "error", "payload_type": "com.apple.wifi.managed",
                                 "key": "ProxyType", "message": "forbidden"}


@pytest.mark.parametrize("value, fits", [(2**64 - 1, True), (-(2**63), True), (2**64, False), (-(2**63) - 1, False)])
def test_an_integer_must_fit_a_plist_integer(value, fits):
    problems = check_command("user", {"RequestType": "InstallApplication", "iTunesStoreID": value})
    assert (problems == []) is fits
    if not fits:  # the bound is plistlib's: it refuses to write this value
        with pytest.raises(OverflowError):
            plistlib.dumps({"v": value})


@pytest.mark.parametrize("configuration", [{"Server": 10**30}, {"Server": None}, {"Servers": [1, [2**64]]}])
def test_free_form_values_must_still_be_plists(configuration):
    problems = check_command("user", {"RequestType": "InstallApplication", "iTunesStoreID": 1,
                                      "Configuration": configuration})
    assert [p.key for p in problems if p.severity == "error"] == ["Configuration"]
    assert "property list" in problems[0].message


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"Next": value}
    return value


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 600])
def test_free_form_values_nested_past_the_plist_depth_limit_are_refused(depth):
    problems = check_command("user", {"RequestType": "InstallApplication", "iTunesStoreID": 1,
                                      "Configuration": _nested(depth)})
    assert [p.key for p in problems if p.severity == "error"] == ["Configuration"]
    assert f"deeper than {MAX_DEPTH} levels" in problems[0].message


def test_free_form_values_as_deep_as_the_limit_are_accepted():
    assert check_command("user", {"RequestType": "InstallApplication", "iTunesStoreID": 1,
                                  "Configuration": _nested(MAX_DEPTH)}) == []
