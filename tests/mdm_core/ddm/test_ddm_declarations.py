"""Declarations are validated against Apple's schema and User Enrollment's rules; tokens follow content."""
from __future__ import annotations

import pytest

from mdm_core.ddm.declarations import (
    MAX_PAYLOAD_BYTES,
    activation_payload,
    declaration_document,
    server_token,
    validate,
)

MAIL = "com.apple.configuration.account.mail"


def mail_payload(**overrides):
    payload = {
        "VisibleName": "Work mail",
        "UserIdentityAssetReference": "identity-1",
        "IncomingServer": {"ServerType": "IMAP", "HostName": "imap.example.com", "Port": 993,
                           "AuthenticationMethod": "Password"},
        "OutgoingServer": {"HostName": "smtp.example.com", "Port": 587, "AuthenticationMethod": "Password"},
    }
    payload.update(overrides)
    return payload


def errors(problems):
    return [(problem.key, problem.message) for problem in problems if problem.severity == "error"]


def test_a_mail_account_is_valid_for_user_enrollment():
    assert validate(MAIL, mail_payload(), user_enrollment=True, identifier="mail-1") == []


def test_software_update_enforcement_is_refused_for_user_enrollment_naming_the_type():
    problems = validate("com.apple.configuration.softwareupdate.enforcement.specific",
                        {"TargetOSVersion": "17.5", "TargetLocalDateTime": "2025-01-01T00:00:00"}, user_enrollment=True)
    assert len(problems) == 1 and problems[0].severity == "error" and problems[0].forbids_user_enrollment
    assert "com.apple.configuration.softwareupdate.enforcement.specific is not allowed under User Enrollment" \
        in problems[0].message


def test_software_update_enforcement_is_accepted_for_a_device_enrollment():
    problems = validate("com.apple.configuration.softwareupdate.enforcement.specific",
                        {"TargetOSVersion": "17.5", "TargetLocalDateTime": "2025-01-01T00:00:00"}, user_enrollment=False)
    assert errors(problems) == []


def test_a_key_user_enrollment_forbids_is_refused_naming_the_key():
    problems = validate("com.apple.configuration.softwareupdate.settings",
                        {"Deferrals": {"CombinedPeriodInDays": 3}}, user_enrollment=False)
    assert errors(problems) == []
    assert ("Deferrals", "Deferrals takes effect only on supervised devices") in \
        [(problem.key, problem.message) for problem in problems]


@pytest.mark.parametrize(("payload", "key", "message"), [
    (mail_payload(Colour="blue"), "Colour", "unknown key Colour"),
    (mail_payload(IncomingServer={"ServerType": "IMAP", "HostName": "h", "AuthenticationMethod": "Password",
                                  "Port": "993"}), "IncomingServer.Port", "IncomingServer.Port must be an integer, not str"),
    (mail_payload(IncomingServer={"ServerType": "X400", "HostName": "h", "AuthenticationMethod": "Password"}),
     "IncomingServer.ServerType", "IncomingServer.ServerType must be one of 'IMAP', 'POP'"),
    ({"IncomingServer": mail_payload()["IncomingServer"]}, "OutgoingServer", "missing required key OutgoingServer"),
    (mail_payload(VisibleName=None), "VisibleName", None),
    (mail_payload(VisibleName=True), "VisibleName", "VisibleName must be a string, not bool"),
])
def test_bad_keys_and_values_are_errors_naming_the_key(payload, key, message):
    found = errors(validate(MAIL, payload, user_enrollment=True))
    assert [problem_key for problem_key, _ in found] == [key]
    if message is not None:
        assert found[0][1] == message


def test_unknown_and_non_ios_types_are_errors():
    assert errors(validate("com.example.nothing", {}, user_enrollment=True)) == \
        [("Type", "unknown declaration type 'com.example.nothing'")]
    assert errors(validate("com.apple.configuration.screensharing.connection", {}, user_enrollment=False)) == \
        [("Type", "com.apple.configuration.screensharing.connection is not available on iOS")]


def test_a_payload_that_is_not_an_object_is_an_error():
    assert errors(validate(MAIL, ["not", "an", "object"], user_enrollment=True)) == \
        [("Payload", "Payload must be a JSON object")]


def test_an_oversized_payload_is_refused_before_its_keys_are_walked():
    payload = mail_payload(VisibleName="x" * MAX_PAYLOAD_BYTES)
    [(key, message)] = errors(validate(MAIL, payload, user_enrollment=True))
    assert key == "Payload" and "at most" in message


def test_problems_are_bounded_for_hostile_payloads():
    payload = {f"Key{index}": index for index in range(5000)}
    assert len(validate("com.apple.configuration.passcode.settings", payload, user_enrollment=True)) == 200


@pytest.mark.parametrize("identifier", ["", "a/b", "a b", "x" * 65, "../etc", "-leading"])
def test_bad_identifiers_are_errors(identifier):
    assert errors(validate(MAIL, mail_payload(), user_enrollment=True, identifier=identifier))[0][0] == "Identifier"


def test_free_form_payloads_take_any_key():
    assert validate("com.apple.management.properties", {"department": "sales", "floor": 3},
                    user_enrollment=True) == []


def test_server_token_changes_only_with_content():
    token = server_token(MAIL, "mail-1", mail_payload())
    assert token == server_token(MAIL, "mail-1", dict(reversed(list(mail_payload().items()))))
    assert token != server_token(MAIL, "mail-1", mail_payload(VisibleName="Other"))
    assert token != server_token(MAIL, "mail-2", mail_payload())
    assert len(token) <= 64


def test_declaration_document_has_apple_keys():
    assert declaration_document(MAIL, "mail-1", "t", {"a": 1}) == \
        {"Type": MAIL, "Identifier": "mail-1", "ServerToken": "t", "Payload": {"a": 1}}


def test_activation_payload_is_valid():
    payload = activation_payload(["b", "a"], "@status(device.model.family) == 'iPhone'")
    assert payload["StandardConfigurations"] == ["a", "b"]
    assert validate("com.apple.activation.simple", payload, user_enrollment=True) == []
