"""Per-user variables: found at any depth in values, filled per device, errors that name payload and key."""
from __future__ import annotations

import gc
import time

import pytest

from mdm_core import plist
from mdm_core.profile_builders import EAPClientConfiguration, ExchangeActiveSync, WiFi, build_profile
from mdm_core.profile_variables import (
    VariableError,
    VariableUse,
    check_variables,
    device_values,
    find_variables,
    identifier_warnings,
    substitute,
    used_variables,
)

ANN = device_values(managed_apple_id="ann@example.com", email="ann.smith@example.com", full_name="Ann Smith",
                    enrollment_id="E-1")


def exchange_profile(**keys):
    return build_profile("com.example.mail", [ExchangeActiveSync(
        Host="mail.example.com", EmailAddress="$EMAIL", UserName="$USERNAME", **keys)], display_name="Mail for $FULL_NAME")


def test_device_values_derive_username_from_the_managed_apple_id():
    assert ANN["USERNAME"] == "ann" and ANN["MANAGED_APPLE_ID"] == "ann@example.com"
    assert device_values()["USERNAME"] is None


def test_variables_are_found_at_any_depth_with_payload_and_key():
    profile = build_profile("com.example.wifi", [WiFi(SSID_STR="Corp", EAPClientConfiguration=EAPClientConfiguration(
        AcceptEAPTypes=(25,), UserName="$USERNAME", TLSTrustedServerNames=("$ENROLLMENT_ID.example.com",)))],
        display_name="Wi-Fi")
    assert find_variables(profile) == [
        VariableUse("USERNAME", "com.apple.wifi.managed", "EAPClientConfiguration.UserName"),
        VariableUse("ENROLLMENT_ID", "com.apple.wifi.managed", "EAPClientConfiguration.TLSTrustedServerNames[0]"),
    ]


def test_used_variables_are_the_known_names_in_values_only():
    document = {"Name": "$FULL_NAME <$EMAIL>", "List": [{"User": "$USERNAME@corp"}], "$ENROLLMENT_ID": "key",
                "Price": "$$MANAGED_APPLE_ID", "Typo": "$E_MAIL", "Plain": "$5"}
    assert used_variables(document) == {"FULL_NAME", "EMAIL", "USERNAME"}
    assert used_variables(exchange_profile()) == {"EMAIL", "USERNAME", "FULL_NAME"}


def test_substitute_fills_each_device_and_leaves_the_original_alone():
    profile = exchange_profile()
    filled = substitute(profile, ANN)
    payload = filled["PayloadContent"][0]
    assert (payload["EmailAddress"], payload["UserName"]) == ("ann.smith@example.com", "ann")
    assert filled["PayloadDisplayName"] == "Mail for Ann Smith"
    assert profile["PayloadContent"][0]["EmailAddress"] == "$EMAIL"
    assert find_variables(filled) == []


def test_unknown_variable_is_an_error_naming_payload_and_key():
    profile = exchange_profile(Password="$PASSWORD")
    assert [(p.severity, p.payload_type, p.key) for p in check_variables(profile)] == [
        ("error", "com.apple.eas.account", "Password")]
    with pytest.raises(VariableError, match=r"com\.apple\.eas\.account Password: \$PASSWORD is not a variable") as error:
        substitute(profile, ANN)
    assert (error.value.variable, error.value.key) == ("PASSWORD", "Password")


def test_missing_value_for_this_device_is_an_error_naming_the_variable():
    values = device_values(managed_apple_id="bob@example.com", full_name="Bob", enrollment_id="E-2")  # no e-mail
    with pytest.raises(VariableError, match=r"EmailAddress: \$EMAIL has no value for this device"):
        substitute(exchange_profile(), values)


def test_double_dollar_is_a_literal_dollar_and_other_dollars_stay():
    profile = exchange_profile(Password="Pa$$Word $5 $lower $")
    assert check_variables(profile) == []
    assert substitute(profile, ANN)["PayloadContent"][0]["Password"] == "Pa$Word $5 $lower $"
    assert "$EMAIL" == substitute(exchange_profile(Password="$$EMAIL"), ANN)["PayloadContent"][0]["Password"]


def test_values_are_inserted_verbatim_never_reparsed_and_escaped_on_dump():
    values = dict(ANN, FULL_NAME="$EMAIL <b>&amp;</b>")
    filled = substitute(exchange_profile(), values)
    assert filled["PayloadDisplayName"] == "Mail for $EMAIL <b>&amp;</b>"
    assert plist.loads(plist.dumps(filled))["PayloadDisplayName"] == "Mail for $EMAIL <b>&amp;</b>"


def test_a_value_a_plist_cannot_hold_is_refused():
    with pytest.raises(VariableError, match="FULL_NAME.*character a property list cannot"):
        substitute(exchange_profile(), dict(ANN, FULL_NAME="Ann\x00"))


def test_dictionary_keys_and_data_are_not_substituted():
    profile = exchange_profile()
    profile["PayloadContent"][0]["Certificate"] = b"$EMAIL"
    profile["ConsentText"] = {"$EMAIL": "hello $FULL_NAME"}
    filled = substitute(profile, ANN)
    assert filled["PayloadContent"][0]["Certificate"] == b"$EMAIL"
    assert filled["ConsentText"] == {"$EMAIL": "hello Ann Smith"}


def test_identifiers_are_sent_as_stored_and_hold_no_variable():
    profile = exchange_profile()
    profile["PayloadIdentifier"], profile["PayloadUUID"] = "com.example.mail.$USERNAME", "A$$B"
    payload = profile["PayloadContent"][0]
    payload["PayloadIdentifier"], payload["PayloadUUID"] = "com.example.mail.$TYPO", "C$$D"
    filled = substitute(profile, ANN)
    assert (filled["PayloadIdentifier"], filled["PayloadUUID"]) == ("com.example.mail.$USERNAME", "A$$B")
    assert (filled["PayloadContent"][0]["PayloadIdentifier"], filled["PayloadContent"][0]["PayloadUUID"]) == (
        "com.example.mail.$TYPO", "C$$D")
    assert filled["PayloadContent"][0]["UserName"] == "ann"  # the other values are still filled
    assert used_variables(profile) == {"EMAIL", "USERNAME", "FULL_NAME"} and check_variables(profile) == []
    assert [(p.severity, p.payload_type, p.key) for p in identifier_warnings(profile)] == [
        ("warning", "Configuration", "PayloadIdentifier"), ("warning", "Configuration", "PayloadUUID"),
        ("warning", "com.apple.eas.account", "PayloadIdentifier"), ("warning", "com.apple.eas.account", "PayloadUUID")]
    assert identifier_warnings(exchange_profile()) == []


def test_substitution_is_linear_in_the_profile_size():
    def timed(count):
        profile = exchange_profile()
        profile["PayloadContent"][0]["ExtensionData"] = {f"k{i}": "$EMAIL $USERNAME $$" for i in range(count)}
        gc.disable()  # a collection landing in one run would swamp the comparison
        try:
            start = time.perf_counter()
            substitute(profile, ANN)
            return time.perf_counter() - start
        finally:
            gc.enable()
    small, large = min(timed(5_000) for _ in range(5)), min(timed(50_000) for _ in range(5))
    assert large < small * 40  # ten times the input: about ten times the time; quadratic would be a hundred
