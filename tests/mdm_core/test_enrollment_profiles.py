import functools
import plistlib
from pathlib import Path

import pytest
import yaml

from mdm_core import enrollment_profiles as ep

SCHEMA_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "apple-device-management" / "mdm" / "profiles"
PLIST_TYPES = {
    "<string>": str,
    "<integer>": int,
    "<boolean>": bool,
    "<data>": bytes,
    "<array>": list,
    "<dictionary>": dict,
}
SCHEMA_FILES = {
    "Configuration": "TopLevel.yaml",
    "Common": "CommonPayloadKeys.yaml",
    "com.apple.mdm": "com.apple.mdm.yaml",
    "com.apple.security.scep": "com.apple.security.scep.yaml",
    "com.apple.security.pkcs12": "com.apple.security.pkcs12.yaml",
}


def spec(**overrides):
    values = {
        "organization": "Example Corp",
        "public_url": "https://mdm.example.com/",
        "topic": "com.apple.mgmt.External.1b3e5a9c-1111-2222-3333-444455556666",
        "scep_challenge": "s3cret",
    }
    values.update(overrides)
    return ep.EnrollmentProfileSpec(**values)


ALL_VARIANTS = {
    "device": lambda s: ep.build_device_enrollment_profile(s),
    "profile_driven": lambda s: ep.build_profile_driven_user_enrollment_profile(s, "ana@appleid.example.com"),
    "account_driven": lambda s: ep.build_account_driven_user_enrollment_profile(s, "ana@example.com"),
}


def payloads(profile):
    return {p["PayloadType"]: p for p in profile["PayloadContent"]}


def mdm_payload(profile):
    return payloads(profile)["com.apple.mdm"]


@functools.cache
def load_schema_keys(payload_type):
    path = SCHEMA_DIR / SCHEMA_FILES[payload_type]
    if not path.exists():
        pytest.skip("Apple's schema (../shared) is not available")
    return tuple(yaml.safe_load(path.read_text())["payloadkeys"])


def payload_schema(payload_type):
    """A payload's own keys plus the common payload keys it does not redefine."""
    own = load_schema_keys(payload_type)
    names = {k["key"] for k in own}
    return [*own] + [k for k in load_schema_keys("Common") if k["key"] not in names]


def assert_matches_schema(payload, schema_keys, where):
    """Every key is in the schema with the right type and allowed value; required keys are present."""
    by_name = {k["key"]: k for k in schema_keys}
    for name, value in payload.items():
        assert name in by_name, f"{where}: {name} is not in Apple's schema"
        key = by_name[name]
        assert type(value) is PLIST_TYPES[key["type"]], f"{where}: {name} should be {key['type']}"
        if "rangelist" in key and not isinstance(value, list):
            assert value in key["rangelist"], f"{where}: {name}={value!r} not in {key['rangelist']}"
        ios = (key.get("supportedOS") or {}).get("iOS") or {}
        assert ios.get("introduced") != "n/a", f"{where}: {name} does not exist on iOS"
        if isinstance(value, dict) and "subkeys" in key and key["subkeys"][0]["key"] != "ANY":
            assert_matches_schema(value, key["subkeys"], f"{where}.{name}")
    for key in schema_keys:
        if key.get("presence") == "required" and key["key"] != "ANY":
            assert key["key"] in payload, f"{where}: required key {key['key']} missing"


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_every_key_of_every_payload_is_in_apples_schema(variant):
    profile = ALL_VARIANTS[variant](spec())
    assert_matches_schema(profile, load_schema_keys("Configuration"), "TopLevel")
    for payload in profile["PayloadContent"]:
        assert_matches_schema(payload, payload_schema(payload["PayloadType"]), payload["PayloadType"])


def test_pkcs12_identity_payload_matches_schema():
    profile = ep.build_device_enrollment_profile(
        spec(identity_kind="pkcs12", pkcs12=b"\x30\x82p12", pkcs12_password="pw", scep_challenge=None)
    )
    identity = payloads(profile)["com.apple.security.pkcs12"]
    assert identity["PayloadContent"] == b"\x30\x82p12"
    assert identity["Password"] == "pw"
    assert mdm_payload(profile)["IdentityCertificateUUID"] == identity["PayloadUUID"]
    assert_matches_schema(identity, payload_schema("com.apple.security.pkcs12"), "pkcs12")


def test_device_profile_asks_for_all_access_rights():
    mdm = mdm_payload(ep.build_device_enrollment_profile(spec()))
    assert mdm["AccessRights"] == 8191
    assert "ManagedAppleID" not in mdm and "EnrollmentMode" not in mdm


def test_profile_driven_profile_names_the_managed_apple_id_and_no_access_rights():
    mdm = mdm_payload(ep.build_profile_driven_user_enrollment_profile(spec(), "ana@appleid.example.com"))
    assert mdm["ManagedAppleID"] == "ana@appleid.example.com"
    assert "AccessRights" not in mdm
    assert "EnrollmentMode" not in mdm and "AssignedManagedAppleID" not in mdm


def test_account_driven_profile_has_byod_mode_and_no_access_rights():
    mdm = mdm_payload(ep.build_account_driven_user_enrollment_profile(spec(), "ana@example.com"))
    assert mdm["EnrollmentMode"] == "BYOD"
    assert mdm["AssignedManagedAppleID"] == "ana@example.com"
    assert "AccessRights" not in mdm
    assert "ManagedAppleID" not in mdm


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_no_variant_prevents_removal(variant):
    profile = ALL_VARIANTS[variant](spec())
    assert "PayloadRemovalDisallowed" not in profile
    assert all("PayloadRemovalDisallowed" not in p for p in profile["PayloadContent"])


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_mdm_payload_points_at_the_scep_identity_and_public_urls(variant):
    profile = ALL_VARIANTS[variant](spec())
    mdm, scep = mdm_payload(profile), payloads(profile)["com.apple.security.scep"]
    assert mdm["IdentityCertificateUUID"] == scep["PayloadUUID"]
    assert mdm["ServerURL"] == "https://mdm.example.com/mdm/connect"
    assert mdm["CheckInURL"] == "https://mdm.example.com/mdm/checkin"
    assert mdm["SignMessage"] is True and mdm["CheckOutWhenRemoved"] is True
    assert mdm["Topic"].startswith("com.apple.mgmt.")
    assert "ServerCapabilities" not in mdm


def test_scep_payload_requests_a_2048_bit_rsa_key_for_signing_and_encryption():
    content = payloads(ep.build_device_enrollment_profile(spec()))["com.apple.security.scep"]["PayloadContent"]
    assert content["URL"] == "https://mdm.example.com/scep"
    assert content["Challenge"] == "s3cret"
    assert (content["Key Type"], content["Keysize"], content["Key Usage"]) == ("RSA", 2048, 5)
    assert content["Subject"] == [[["O", "Example Corp"]], [["CN", "MDM Identity"]]]


def test_scep_subject_can_be_chosen():
    profile = ep.build_device_enrollment_profile(spec(scep_subject=(("CN", "enrollment-42"),)))
    assert payloads(profile)["com.apple.security.scep"]["PayloadContent"]["Subject"] == [[["CN", "enrollment-42"]]]


def test_each_build_has_fresh_uuids_but_a_stable_identifier():
    first, second = ep.build_device_enrollment_profile(spec()), ep.build_device_enrollment_profile(spec())
    assert first["PayloadUUID"] != second["PayloadUUID"]
    assert first["PayloadIdentifier"] == second["PayloadIdentifier"] == "com.example.mdm.enrollment"
    uuids = [first["PayloadUUID"], *(p["PayloadUUID"] for p in first["PayloadContent"])]
    assert len(set(uuids)) == 3


def test_to_bytes_round_trips_as_xml_plist():
    profile = ep.build_account_driven_user_enrollment_profile(spec(), "ana@example.com")
    data = ep.to_bytes(profile)
    assert data.startswith(b"<?xml")
    assert plistlib.loads(data) == profile


@pytest.mark.parametrize(
    "overrides",
    [
        {"public_url": "mdm.example.com"},
        {"topic": "com.example.push"},
        {"identity_kind": "pkcs12"},
        {"identity_kind": "acme"},
    ],
)
def test_invalid_spec_is_refused(overrides):
    with pytest.raises(ep.EnrollmentProfileError):
        spec(**overrides)


@pytest.mark.parametrize("apple_id", ["", "ana", "@example.com", "ana@", "ana @example.com", "ana\x01@example.com",
                                      "ana\u200b@example.com", "a" * 310 + "@example.com"])
def test_invalid_managed_apple_id_is_refused(apple_id):
    with pytest.raises(ep.EnrollmentProfileError):
        ep.build_account_driven_user_enrollment_profile(spec(), apple_id)


def test_a_value_a_plist_cannot_hold_is_an_enrollment_profile_error_not_a_value_error():
    profile = ep.build_device_enrollment_profile(spec(organization="Example\x01 Corp"))
    with pytest.raises(ep.EnrollmentProfileError, match="property list"):
        ep.to_bytes(profile)
