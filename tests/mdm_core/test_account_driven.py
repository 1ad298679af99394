"""The wire formats of Account-Driven User Enrollment, as Apple documents them."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from asn1crypto import cms as asn1_cms

from mdm_core import account_driven as ad
from mdm_core import cms, plist

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"


def test_discovery_document_names_exactly_one_mdm_byod_server():
    document = ad.discovery_document("https://mdm.example.com/account-driven/enroll")
    assert json.dumps(document, separators=(",", ":")) == (
        '{"Servers":[{"Version":"mdm-byod","BaseURL":"https://mdm.example.com/account-driven/enroll"}]}')
    assert ad.base_url_from_discovery(document) == "https://mdm.example.com/account-driven/enroll"


@pytest.mark.parametrize("document", [{}, {"Servers": []}, {"Servers": [{"Version": "mdm-adde", "BaseURL": "https://x"}]},
                                      {"Servers": [{"Version": "mdm-byod", "BaseURL": "ftp://x"}]}, [1]])
def test_unusable_discovery_documents_are_refused(document):
    with pytest.raises(ad.AccountDrivenError):
        ad.base_url_from_discovery(document)


def test_well_known_failed_body_matches_apples_schema():
    body = ad.well_known_failed("Shown to the user", "logged only")
    path = SHARED / "apple-device-management" / "mdm" / "errors" / "well-known.failed.yaml"
    if not path.exists():
        pytest.skip("../shared/apple-device-management is not present")
    schema = yaml.safe_load(path.read_text())
    keys = {k["key"]: k for k in schema["payloadkeys"]}
    assert set(body) <= set(keys)
    assert body["code"] in keys["code"]["rangelist"]
    assert body == {"code": "com.apple.well-known.failed", "message": "Shown to the user", "description": "logged only"}


@pytest.mark.parametrize("value, domain", [("alice@example.org", "example.org"), ("a@b@Corp.Example.COM", "corp.example.com")])
def test_user_identifier_is_split_at_the_last_at(value, domain):
    assert ad.split_user_identifier(value)[1] == domain


@pytest.mark.parametrize("value", [None, "", "alice", "alice@localhost", "@example.org", "al ice@example.org",
                                   "alice@-bad.org", "a" * 400 + "@example.org"])
def test_user_identifier_without_a_fully_qualified_domain_is_refused(value):
    with pytest.raises(ad.AccountDrivenError):
        ad.split_user_identifier(value)


@pytest.mark.parametrize("typed, expected", [
    ("alice@appleid.example.org", True), ("Alice@AppleID.Example.org", True),  # the account itself
    ("alice@example.org", True), ("ALICE@example.ORG", True),  # a non-federated account's work address
    ("bob@example.org", False), ("alice@example.com", False)])
def test_the_typed_identifier_maps_to_the_account_or_the_persons_email_only(typed, expected):
    assert ad.identifier_maps_to_account(typed, "alice@appleid.example.org", "alice@example.org") is expected


def test_without_an_email_only_the_account_itself_maps():
    assert not ad.identifier_maps_to_account("alice@example.org", "alice@appleid.example.org", None)
    assert not ad.identifier_maps_to_account("", "alice@appleid.example.org", "")


def test_challenge_header_uses_apples_comma_form_and_parses_back():
    header = ad.challenge_header("https://mdm.example.com/account-driven/authenticate/abc.def")
    assert header == 'Bearer method="apple-as-web", url="https://mdm.example.com/account-driven/authenticate/abc.def"'
    assert ad.parse_challenge(header) == ad.Challenge("apple-as-web", "https://mdm.example.com/account-driven/authenticate/abc.def")


def test_the_space_separated_form_seen_in_the_wild_parses_too():
    assert ad.parse_challenge('Bearer method="apple-as-web" url="https://x.example/a"').url == "https://x.example/a"


@pytest.mark.parametrize("url", ["https://x.example/a?tenant=1", "https://x.example/a#f", 'https://x.example/"a',
                                 "mdm.example.com/a", "https://x.example/a b"])
def test_challenge_url_cannot_carry_what_the_phone_drops_or_breaks_the_header(url):
    with pytest.raises(ad.AccountDrivenError):
        ad.challenge_header(url)


@pytest.mark.parametrize("header", [None, "", 'Basic realm="x"', 'Bearer method="apple-oauth2", url="https://x/a"',
                                    'Bearer method="apple-as-web"', 'Bearer method=apple-as-web, url="https://x/a"'])
def test_invalid_challenges_make_the_phone_cancel(header):
    with pytest.raises(ad.AccountDrivenError):
        ad.parse_challenge(header)


def test_web_sign_in_url_appends_the_user_identifier():
    assert ad.web_sign_in_url("https://x.example/auth/abc", "alice+1@example.org") == (
        "https://x.example/auth/abc?user-identifier=alice%2B1@example.org")


def test_callback_url_is_the_exact_scheme_host_and_parameter():
    token = ad.new_access_token()
    url = ad.callback_url(token)
    assert url == f"apple-remotemanagement-user-login://authentication-results?access-token={token}"
    assert ad.access_token_from_callback(url) == token


@pytest.mark.parametrize("url", ["apple-remotemanagement-user-login://other?access-token=x",
                                 "https://authentication-results?access-token=x",
                                 "apple-remotemanagement-user-login://authentication-results?token=x"])
def test_other_callbacks_carry_no_token(url):
    with pytest.raises(ad.AccountDrivenError):
        ad.access_token_from_callback(url)


def test_tokens_are_random_and_compared_by_hash():
    token = ad.new_access_token()
    assert token != ad.new_access_token() and len(token) >= 43
    stored = ad.hash_access_token(token)
    assert token not in stored
    assert ad.access_token_matches(stored, token)
    assert not ad.access_token_matches(stored, token + "x")
    assert not ad.access_token_matches(stored, None)


@pytest.mark.parametrize("header, token", [("Bearer abc-123_.~+/=", "abc-123_.~+/="), ("bearer  abc ", "abc"),
                                           (None, None), ("Basic abc", None), ("Bearer", None), ("Bearer a b", None)])
def test_bearer_token_is_read_from_the_authorization_header(header, token):
    assert ad.bearer_token(header) == token


BODY = ad.request_body("en-US", "iPhone17,2", "22B83")


def test_plain_plist_request_is_read():
    request = ad.parse_enrollment_request(BODY)
    assert (request.language, request.product, request.version) == ("en-US", "iPhone17,2", "22B83")
    assert not request.signed and not request.signature_verified


def test_cms_signed_request_is_verified_and_read(device_identity):
    request = ad.parse_enrollment_request(cms.sign(BODY, device_identity))
    assert request.signed and request.signature_verified and request.product == "iPhone17,2"


def test_signed_request_whose_content_was_changed_is_refused(device_identity):
    signed = cms.sign(BODY, device_identity)
    tampered = signed.replace(b"iPhone17,2", b"iPhone17,3")
    with pytest.raises(ad.AccountDrivenError, match="signature"):
        ad.parse_enrollment_request(tampered)


def test_signature_we_cannot_evaluate_is_read_without_verification(device_identity):
    info = asn1_cms.ContentInfo.load(cms.sign(BODY, device_identity))
    info["content"]["signer_infos"][0]["digest_algorithm"]["algorithm"] = "md5"
    request = ad.parse_enrollment_request(info.dump(force=True))
    assert request.signed and not request.signature_verified and request.version == "22B83"


@pytest.mark.parametrize("body", [b"", b"garbage", b"\x30\x0b\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02",
                                  plist.dumps({"PRODUCT": 3}), b"<?xml" + b" " * ad.MAX_REQUEST_BYTES])
def test_malformed_requests_raise_a_clear_error(body):
    with pytest.raises(ad.AccountDrivenError):
        ad.parse_enrollment_request(body)
