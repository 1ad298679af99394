"""User identity certificates name the user whatever the CSR asks, and marked SCEP payloads are filled per device."""
import copy

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mdm_core.profile_builders import EAP_TLS, EAPClientConfiguration, Ref, SCEPIdentity, WiFi, build_profile
from mdm_core.profile_check import check_profile
from mdm_core.user_identity import (
    IDENTITY_DAYS, MIN_KEY_SIZE, SCEP_URL_MARKER, UserIdentityError, UserNames, create_user_identity_ca,
    fill_scep_payloads, issue_user_identity, user_names,
)


def _sans(certificate):
    return certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
        .get_values_for_type(x509.RFC822Name)


def marked_profile(**scep):
    identity = SCEPIdentity(name="identity", URL=SCEP_URL_MARKER, Subject=(("CN", "$MANAGED_APPLE_ID"),), **scep)
    wifi = WiFi(SSID_STR="Corp", EncryptionType="WPA2", PayloadCertificateUUID=Ref("identity"),
                EAPClientConfiguration=EAPClientConfiguration(AcceptEAPTypes=(EAP_TLS,),
                                                              TLSTrustedServerNames=("radius.example.com",)))
    return build_profile("com.example.wifi", [identity, wifi], display_name="Corporate Wi-Fi")


def test_user_identity_ca_is_a_ca_of_its_own_named_for_user_identities():
    ca = create_user_identity_ca("Example Org")
    assert ca.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Example Org User Identities"
    assert ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert create_user_identity_ca("Example Org").private_key.public_key() != ca.private_key.public_key()


def test_certificate_names_the_managed_apple_id_and_a_different_email_whatever_the_csr_asks(ca_identity, device_key):
    names = user_names("alice@example.org", "Alice.Smith@corp.example")
    certificate = issue_user_identity(ca_identity, device_key.public_key(), names)
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice@example.org"
    assert certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example Org"
    assert _sans(certificate) == ["alice@example.org", "Alice.Smith@corp.example"]
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]
    certificate.verify_directly_issued_by(ca_identity.certificate)
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime.days <= IDENTITY_DAYS + 1


@pytest.mark.parametrize("email, expected", [
    (None, ("alice@example.org",)),
    ("ALICE@example.org", ("alice@example.org",)),  # the same address in other case is not repeated
    ("not an address", ("alice@example.org",)),
    ("jü@example.org", ("alice@example.org",)),  # an rfc822Name is ASCII
])
def test_an_email_that_adds_nothing_or_cannot_be_named_is_left_out(email, expected):
    assert user_names("alice@example.org", email) == UserNames("alice@example.org", expected)


@pytest.mark.parametrize("managed_apple_id", [None, "", "alice", "a@b@c", "ä@example.org", "x" * 60 + "@example.org"])
def test_a_managed_apple_id_that_cannot_be_cn_and_rfc822name_is_refused(managed_apple_id):
    with pytest.raises(UserIdentityError, match="Managed Apple ID"):
        user_names(managed_apple_id)


def test_fill_gives_each_marked_payload_its_own_url_and_challenge_and_leaves_the_input_alone():
    profile = build_profile("com.example.two", [
        SCEPIdentity(name="wifi-id", URL=SCEP_URL_MARKER),
        SCEPIdentity(name="vpn-id", URL=SCEP_URL_MARKER, Keysize=4096),
        SCEPIdentity(name="theirs", URL="https://ca.example.com/scep", Challenge="kept", Keysize=1024)],
        display_name="Two identities")
    before = copy.deepcopy(profile)
    issued = iter([("https://mdm.example.com/scep/identities/7", "first"),
                   ("https://mdm.example.com/scep/identities/7", "second")])
    filled = fill_scep_payloads(profile, lambda: next(issued))
    assert profile == before
    contents = [payload["PayloadContent"] for payload in filled["PayloadContent"]]
    assert [(c["URL"], c["Challenge"], c["Keysize"]) for c in contents] == [
        ("https://mdm.example.com/scep/identities/7", "first", 2048),
        ("https://mdm.example.com/scep/identities/7", "second", 4096),
        ("https://ca.example.com/scep", "kept", 1024)]  # another CA's payload is not ours to change


def test_apples_1024_bit_default_is_raised_when_filled():
    profile = marked_profile()
    del profile["PayloadContent"][0]["PayloadContent"]["Keysize"]
    filled = fill_scep_payloads(profile, lambda: ("https://mdm.example.com/scep/identities/1", "c"))
    assert filled["PayloadContent"][0]["PayloadContent"]["Keysize"] == MIN_KEY_SIZE


def test_a_profile_without_marked_payloads_is_copied_without_issuing():
    profile = build_profile("com.example.plain", [SCEPIdentity(URL="https://ca.example.com/scep")], display_name="x")
    assert fill_scep_payloads(profile, lambda: pytest.fail("nothing to issue")) == profile


def test_marked_and_filled_profiles_pass_the_checker_for_user_enrollment():
    profile = marked_profile()
    assert check_profile(profile, "user").valid
    filled = fill_scep_payloads(profile, lambda: ("https://mdm.example.com/scep/identities/1", "challenge"))
    report = check_profile(filled, "user")
    assert report.valid and report.user_enrollment == "allowed", report.problems
