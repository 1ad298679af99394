"""Command builders go through the schema check; device reports are validated before use."""
from __future__ import annotations

import plistlib
import re
import uuid

import pytest

from mdm_core import commands
from mdm_core.capabilities import check_command, forbidden_device_information_keys
from mdm_core.commands import (CommandError, ProtocolError, build_command, command_plist, parse_command_report,
                               queried_keys)


def report(**body) -> bytes:
    return plistlib.dumps(body)


def test_build_command_returns_request_type_and_keys():
    assert build_command("RemoveProfile", Identifier="com.example.wifi") == {
        "RequestType": "RemoveProfile", "Identifier": "com.example.wifi"}


@pytest.mark.parametrize(("request_type", "keys", "fragment"), [
    ("RemoveProfile", {}, "missing required key Identifier"),
    ("RemoveProfile", {"Identifier": 7}, "Identifier must be a string"),
    ("InstallProfile", {"Payload": "text, not data"}, "Payload must be data"),
    ("CertificateList", {"ManagedOnly": 1}, "ManagedOnly must be a boolean"),
    ("ProfileList", {"Bogus": True}, "unknown key Bogus"),
    ("NoSuchCommand", {}, "unknown RequestType"),
    ("RotateFileVaultKey", {}, "not available on iOS"),
])
def test_build_command_rejects_what_the_schema_rejects(request_type, keys, fragment):
    with pytest.raises(CommandError, match=fragment) as caught:
        build_command(request_type, **keys)
    assert caught.value.problems and isinstance(caught.value, ValueError)


def test_build_command_does_not_judge_the_enrollment_type():
    assert build_command("EraseDevice") == {"RequestType": "EraseDevice"}
    assert check_command("user", build_command("EraseDevice"))


def test_new_command_uuid_is_an_upper_case_uuid_and_unique():
    first, second = commands.new_command_uuid(), commands.new_command_uuid()
    assert re.fullmatch(r"[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[0-9A-F]{4}-[0-9A-F]{12}", first)
    assert first != second


def test_command_plist_wraps_the_command_with_its_uuid():
    body = commands.command_plist("ABC", commands.install_profile(b"<profile/>"))
    assert body.startswith(b"<?xml")
    assert plistlib.loads(body) == {"CommandUUID": "ABC",
                                    "Command": {"RequestType": "InstallProfile", "Payload": b"<profile/>"}}


def test_command_plist_refuses_an_empty_uuid():
    with pytest.raises(CommandError):
        commands.command_plist("", commands.profile_list())


def test_user_enrollment_device_information_asks_for_no_hardware_identifiers():
    command = commands.device_information("user")
    assert "OSVersion" in command["Queries"]
    assert not set(command["Queries"]) & forbidden_device_information_keys("user")
    assert check_command("user", command) == []
    assert "UDID" in commands.device_information("device")["Queries"]


def test_convenience_builders_produce_commands_allowed_under_user_enrollment():
    built = [commands.profile_list(), commands.remove_profile("p"), commands.managed_application_list(),
             commands.managed_application_list(["com.example.app"]), commands.installed_application_list(),
             commands.certificate_list(), commands.security_info(), commands.remove_application("com.example.app"),
             commands.install_application(itunes_store_id=361309726, purchase_method=1),
             commands.install_application(manifest_url="https://example.com/app.plist"),
             commands.remove_enrollment("com.example.mdm.enrollment")]
    for command in built:
        assert check_command("user", command) == [], command


def test_installed_application_list_asks_for_managed_apps_only_by_default():
    assert commands.installed_application_list()["ManagedAppsOnly"] is True


def test_remove_enrollment_removes_the_enrollment_profile():
    assert commands.remove_enrollment("com.example.mdm") == {"RequestType": "RemoveProfile",
                                                             "Identifier": "com.example.mdm"}


def test_install_application_needs_exactly_one_source():
    with pytest.raises(CommandError):
        commands.install_application()
    with pytest.raises(CommandError):
        commands.install_application(itunes_store_id=1, manifest_url="https://example.com/a.plist")
    with pytest.raises(CommandError, match="PurchaseMethod must be one of"):
        commands.install_application(itunes_store_id=1, purchase_method=7)


def test_idle_report_from_a_user_enrollment():
    parsed = parse_command_report(report(Status="Idle", EnrollmentID="FB833D84-0000"))
    assert (parsed.status, parsed.command_uuid, parsed.enrollment_id, parsed.udid) == ("Idle", None, "FB833D84-0000",
                                                                                        None)
    assert parsed.error_chain == [] and parsed.raw["EnrollmentID"] == "FB833D84-0000"


def test_acknowledged_report_keeps_result_keys_in_raw():
    parsed = parse_command_report(report(Status="Acknowledged", CommandUUID="C1", UDID="U1", ProfileList=[]))
    assert (parsed.status, parsed.command_uuid, parsed.udid) == ("Acknowledged", "C1", "U1")
    assert parsed.raw["ProfileList"] == []


def test_error_report_carries_its_error_chain():
    chain = [{"ErrorCode": 12021, "ErrorDomain": "MCMDMErrorDomain", "LocalizedDescription": "Not allowed",
              "USEnglishDescription": "Not allowed"}]
    parsed = parse_command_report(report(Status="Error", CommandUUID="C1", EnrollmentID="E", ErrorChain=chain))
    assert parsed.error_chain == chain


@pytest.mark.parametrize(("body", "fragment"), [
    (b"", "empty"),
    (b"not a plist", "not a valid property list"),
    (plistlib.dumps([1, 2]), "root must be a dictionary"),
    (report(EnrollmentID="E"), "Status must be one of"),
    (report(Status="Done", EnrollmentID="E"), "Status must be one of"),
    (report(Status=1, EnrollmentID="E"), "Status must be one of"),
    (report(Status="Acknowledged", EnrollmentID="E"), "must name its CommandUUID"),
    (report(Status="NotNow", CommandUUID=5, EnrollmentID="E"), "CommandUUID must be a non-empty string"),
    (report(Status="Idle"), "UDID .* or EnrollmentID"),
    (report(Status="Idle", UDID=b"bytes"), "UDID must be"),
    (report(Status="Error", CommandUUID="C", UDID="U", ErrorChain="boom"), "ErrorChain must be an array"),
    (report(Status="Error", CommandUUID="C", UDID="U", ErrorChain=["x"]), r"ErrorChain\[0\] must be a dictionary"),
    (report(Status="Error", CommandUUID="C", UDID="U", ErrorChain=[{"ErrorCode": "1"}]), "ErrorCode"),
    (report(Status="Error", CommandUUID="C", UDID="U", ErrorChain=[{"ErrorCode": True}]), "ErrorCode"),
])
def test_malformed_reports_raise_protocol_error(body, fragment):
    with pytest.raises(ProtocolError, match=fragment):
        parse_command_report(body)


def test_oversized_report_is_refused():
    with pytest.raises(ProtocolError, match="larger than"):
        parse_command_report(report(Status="Idle", UDID="U", Padding="x" * 2000), max_bytes=1000)


@pytest.mark.parametrize("value", ["com.example.\x01profile", None, 2**70])
def test_command_plist_refuses_values_a_plist_cannot_carry(value):
    with pytest.raises(CommandError, match="cannot be written as a property list"):
        commands.command_plist("UUID-1", {"RequestType": "RemoveProfile", "Identifier": value})


def test_queried_keys_are_read_per_command_even_when_cached_by_list():
    def payload(queries):
        command_uuid = str(uuid.uuid4())
        command = {"RequestType": "DeviceInformation", **({"Queries": queries} if queries is not None else {})}
        return command_plist(command_uuid, command), command_uuid

    first, second, other, none = (payload(["OSVersion", "ModelName"]), payload(["OSVersion", "ModelName"]),
                                  payload(["OSVersion"]), payload(None))
    assert queried_keys(*first) == queried_keys(*second) == ("OSVersion", "ModelName")
    assert queried_keys(*other) == ("OSVersion",)
    assert queried_keys(*none) is None


def test_command_plists_are_the_plist_of_each_uuid():
    command = commands.install_profile(b"\x00profile bytes" * 500)
    plists = commands.CommandPlists(command)
    for _ in range(3):
        command_uuid = commands.new_command_uuid()
        assert plists.for_uuid(command_uuid) == command_plist(command_uuid, command)
    assert plists.command is command
