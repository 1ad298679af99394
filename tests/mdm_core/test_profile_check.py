"""The profile checker: schema problems, User Enrollment verdicts, and hostile shapes."""
from __future__ import annotations

import copy

import pytest

from mdm_core.capabilities import MAX_PROBLEMS, UNCHECKED
from mdm_core.profile_check import ProfileCheckError, check_profile


def payload(payload_type: str, uuid: str, **keys) -> dict:
    return {"PayloadType": payload_type, "PayloadVersion": 1, "PayloadIdentifier": f"com.example.{uuid}",
            "PayloadUUID": uuid, **keys}


def profile(*payloads: dict, **keys) -> dict:
    return {"PayloadType": "Configuration", "PayloadVersion": 1, "PayloadIdentifier": "com.example.profile",
            "PayloadUUID": "TOP", "PayloadDisplayName": "Work", "PayloadContent": list(payloads), **keys}


SCEP = payload("com.apple.security.scep", "SCEP", PayloadContent={
    "URL": "https://mdm.example.com/scep", "Challenge": "secret", "Keysize": 2048, "Key Type": "RSA",
    "Key Usage": 5, "Subject": [[["CN", "device"]]]})
ADUE_MDM = payload("com.apple.mdm", "MDM", IdentityCertificateUUID="SCEP", Topic="com.apple.mgmt.External.x",
                   ServerURL="https://mdm.example.com/mdm", CheckInURL="https://mdm.example.com/checkin",
                   SignMessage=True, CheckOutWhenRemoved=True, EnrollmentMode="BYOD",
                   AssignedManagedAppleID="ann@example.com")
WIFI = payload("com.apple.wifi.managed", "WIFI", SSID_STR="Corp", AutoJoin=True, EncryptionType="WPA2")


def keys_of(report, severity="error"):
    return [(problem.payload_type, problem.key) for problem in report.problems if problem.severity == severity]


def test_account_driven_enrollment_profile_is_valid_for_user_enrollment():
    report = check_profile(profile(SCEP, ADUE_MDM, WIFI, ConsentText={"default": "Welcome", "de": "Willkommen"}))
    assert report.to_dict() == {"valid": True, "user_enrollment": "allowed", "problems": []}


def test_payload_removal_disallowed_is_forbidden_for_user_enrollment():
    report = check_profile(profile(WIFI, PayloadRemovalDisallowed=True))
    assert not report.valid and report.user_enrollment == "forbidden"
    assert keys_of(report) == [("Configuration", "PayloadRemovalDisallowed")]


def test_full_device_vpn_payload_is_forbidden_but_per_app_vpn_is_not():
    vpn = check_profile(profile(payload("com.apple.vpn.managed", "VPN", UserDefinedName="VPN", VPNType="IKEv2")))
    assert vpn.user_enrollment == "forbidden" and keys_of(vpn) == [("com.apple.vpn.managed", None)]
    per_app = check_profile(profile(payload("com.apple.vpn.managed.applayer", "APPVPN", UserDefinedName="VPN",
                                            VPNType="IKEv2", VPNUUID="V")))
    assert per_app.user_enrollment == "allowed"


def test_wifi_proxy_and_restriction_keys_are_forbidden_for_user_enrollment():
    wifi = copy.deepcopy(WIFI) | {"ProxyType": "Auto"}
    restrictions = payload("com.apple.applicationaccess", "R", allowCamera=False)
    report = check_profile(profile(wifi, restrictions))
    assert keys_of(report) == [("com.apple.wifi.managed", "ProxyType"), ("com.apple.applicationaccess", "allowCamera")]


def test_forbidden_things_are_warnings_for_device_enrollment_but_still_forbid_user_enrollment():
    report = check_profile(profile(copy.deepcopy(WIFI) | {"ProxyType": "Auto"}), "device")
    assert report.valid and report.user_enrollment == "forbidden"
    assert ("com.apple.wifi.managed", "ProxyType") in keys_of(report, "warning")


def test_ignored_passcode_tuning_is_a_warning_under_user_enrollment():
    report = check_profile(profile(payload("com.apple.mobiledevice.passwordpolicy", "P", minLength=6)))
    assert report.valid and report.user_enrollment == "allowed"
    assert keys_of(report, "warning") == [("com.apple.mobiledevice.passwordpolicy", "minLength")]


def test_top_level_type_and_version_must_be_configuration_and_one():
    report = check_profile(profile(WIFI, PayloadType="Profile", PayloadVersion=2))
    assert set(keys_of(report)) == {("Configuration", "PayloadType"), ("Configuration", "PayloadVersion")}


def test_missing_top_level_keys_are_errors():
    report = check_profile({"PayloadType": "Configuration"})
    assert {key for _, key in keys_of(report)} == {"PayloadIdentifier", "PayloadUUID", "PayloadVersion",
                                                   "PayloadContent"}


def test_encrypted_profile_needs_no_payload_content_but_is_flagged_uncheckable():
    unencrypted = {key: value for key, value in profile().items() if key != "PayloadContent"}
    encrypted = check_profile({**unencrypted, "IsEncrypted": True, "EncryptedPayloadContent": b"cms"})
    assert encrypted.valid and [problem.key for problem in encrypted.problems] == ["EncryptedPayloadContent"]
    assert not check_profile(unencrypted).valid


def test_unknown_and_non_ios_payload_types_are_errors_and_unknown_keys_warnings():
    report = check_profile(profile(payload("com.example.custom", "C"), payload("com.apple.dock", "D"),
                                   copy.deepcopy(WIFI) | {"FutureKey": 1}))
    assert keys_of(report) == [("com.example.custom", None), ("com.apple.dock", None)]
    assert keys_of(report, "warning") == [("com.apple.wifi.managed", "FutureKey")]


def test_wrong_types_inside_payloads_are_errors_and_booleans_are_not_integers():
    scep = copy.deepcopy(SCEP)
    scep["PayloadContent"]["Keysize"] = True
    report = check_profile(profile(scep, copy.deepcopy(WIFI) | {"AutoJoin": "yes"}))
    assert keys_of(report) == [("com.apple.security.scep", "PayloadContent.Keysize"),
                               ("com.apple.wifi.managed", "AutoJoin")]


def test_duplicate_payload_uuids_are_errors():
    report = check_profile(profile(WIFI, copy.deepcopy(WIFI) | {"PayloadIdentifier": "other"}))
    assert keys_of(report) == [(None, "PayloadUUID")]
    assert "WIFI" in report.problems[0].message


def wifi(uuid: str, **keys) -> dict:
    return payload("com.apple.wifi.managed", uuid, SSID_STR=f"Corp-{uuid}", AutoJoin=True, EncryptionType="WPA2",
                   **keys)


def test_two_payloads_with_one_payload_identifier_are_an_error():
    """CommonPayloadKeys.yaml, PayloadIdentifier: "This string must be unique within the profile"."""
    report = check_profile(profile(wifi("A", PayloadIdentifier="com.example.wifi"),
                                   wifi("B", PayloadIdentifier="com.example.wifi")))
    assert not report.valid, report.problems
    assert any(problem.key == "PayloadIdentifier" for problem in report.problems)
    assert keys_of(report) == [(None, "PayloadIdentifier")] and "com.example.wifi" in report.problems[0].message


def test_a_payload_may_repeat_the_profiles_identifier():
    report = check_profile(profile(wifi("A", PayloadIdentifier="com.example.profile")))
    assert report.valid, report.problems


@pytest.mark.parametrize("content", [["a string", 7, None, [1]], "not an array", {"PayloadType": "x"}])
def test_non_dictionary_payloads_are_errors_not_crashes(content):
    report = check_profile(profile() | {"PayloadContent": content})
    assert not report.valid


def test_payload_without_a_payload_type_string_is_an_error():
    report = check_profile(profile({"PayloadUUID": "X"}, {"PayloadType": ["com.apple.mdm"], "PayloadUUID": "Y"}))
    assert [key for _, key in keys_of(report)] == ["PayloadContent[0].PayloadType", "PayloadContent[1].PayloadType"]


def test_deep_nesting_costs_only_the_schemas_depth():
    deep: dict = {}
    cursor = deep
    for _ in range(100_000):
        cursor["x"] = {}
        cursor = cursor["x"]
    restrictions = payload("com.apple.applicationaccess", "R", allowCamera=deep)
    report = check_profile(profile(restrictions, ConsentText=deep), "device")
    assert not report.valid


def test_huge_profiles_produce_a_bounded_problem_list():
    payloads = [payload("com.apple.dock", f"D{index}") for index in range(5000)]
    report = check_profile(profile(*payloads))
    assert len(report.problems) == MAX_PROBLEMS and report.problems[-1] is UNCHECKED and not report.valid


def test_a_flood_of_warnings_does_not_hide_a_payload_user_enrollment_forbids():
    """Checking stopped at the cap and the verdict was read from what had been checked: 250 unknown keys
    (warnings), then a global HTTP proxy, made a profile "allowed" under User Enrollment."""
    flooded = payload("com.apple.wifi.managed", "W", SSID_STR="Work", **{f"NoSuchKey{index}": "x" for index in range(250)})
    report = check_profile(profile(flooded, payload("com.apple.proxy.http.global", "P", ProxyType="Auto")))
    assert report.user_enrollment == "forbidden" and not report.valid
    assert report.problems[-1] is UNCHECKED


def test_non_dictionary_profile_is_a_clear_error():
    for value in (None, [], "profile", b"bytes"):
        with pytest.raises(ProfileCheckError):
            check_profile(value)


def test_non_string_keys_are_reported_not_crashed_on():
    report = check_profile(profile(WIFI) | {1: "x"})
    assert ("Configuration", "1") in keys_of(report, "warning")


def test_per_app_vpn_takes_the_vpn_payloads_keys_with_its_own_user_enrollment_mode():
    per_app = payload("com.apple.vpn.managed.applayer", "APPVPN", UserDefinedName="VPN", VPNType="IKEv2", VPNUUID="V",
                      IKEv2={"RemoteAddress": "vpn.example.com", "RemoteIdentifier": "vpn.example.com",
                             "LocalIdentifier": "me", "AuthenticationMethod": "Certificate", "Bogus": 1})
    report = check_profile(profile(per_app))
    assert report.valid and report.user_enrollment == "allowed"
    assert keys_of(report, "warning") == [("com.apple.vpn.managed.applayer", "IKEv2.Bogus")]
    del per_app["VPNType"]
    assert keys_of(check_profile(profile(per_app))) == [("com.apple.vpn.managed.applayer", "VPNType")]
