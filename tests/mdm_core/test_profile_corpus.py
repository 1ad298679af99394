"""Upload decoding and checking over the corpus in tests/data/profiles (see its README.md):
each file gets its verdict, and nothing raises anything but the declared error types."""
from __future__ import annotations

import plistlib
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from mdm_core import cms, mobileconfig
from mdm_core.mobileconfig import EncryptedProfileError, MobileconfigError, NotAProfileError, OversizedProfileError

CORPUS = Path(__file__).resolve().parents[1] / "data" / "profiles"
PASSCODE = "com.apple.mobiledevice.passwordpolicy"
VERDICTS = {
    "wifi-wpa2": ("valid",),
    "wifi-eap-tls-scep": ("valid",),
    "exchange": ("valid",),
    "imap-mail": ("valid",),
    "caldav": ("valid",),
    "carddav": ("valid",),
    "per-app-vpn": ("valid",),
    "web-clip": ("valid",),
    "passcode-ue-ignored": ("warnings", {(PASSCODE, "forcePIN"), (PASSCODE, "minLength"),
                                         (PASSCODE, "requireAlphanumeric"), (PASSCODE, "maxPINAgeInDays")}),
    "restrictions": ("valid",),
    "root-cert": ("valid",),
    "full-device-vpn": ("error", ("com.apple.vpn.managed", None)),
    "global-http-proxy": ("error", ("com.apple.proxy.http.global", None)),
    "managed-domains": ("error", ("com.apple.domains", None)),
    "wifi-with-proxy": ("error", ("com.apple.wifi.managed", "ProxyType")),
    "malformed-xml": ("refused", NotAProfileError),
    "truncated-binary": ("refused", NotAProfileError),
    "billion-laughs": ("refused", NotAProfileError),
    "binary-cycle": ("refused", NotAProfileError),
    "binary-shared-references": ("refused", NotAProfileError),
    "encrypted-payload-content": ("refused", EncryptedProfileError),
    "non-dict-root": ("refused", NotAProfileError),
}


def read(name):
    return (CORPUS / f"{name}.mobileconfig").read_bytes()


def verdict(data):
    """The corpus verdict of some bytes; any exception but a MobileconfigError fails the test."""
    try:
        decoded = mobileconfig.decode(data)
    except MobileconfigError as exc:
        return ("refused", type(exc)), None
    report = mobileconfig.check(decoded, "user")
    errors = [(p.payload_type, p.key) for p in report.problems if p.severity == "error"]
    warnings = {(p.payload_type, p.key) for p in report.problems if p.severity == "warning"}
    if errors:
        assert not report.valid
        return ("error", errors[0]), decoded
    assert report.valid
    return (("warnings", warnings) if warnings else ("valid",)), decoded


def test_the_corpus_and_its_readme_list_the_same_files():
    files = {path.stem for path in CORPUS.glob("*.mobileconfig")}
    listed = set(re.findall(r"^\| `([\w-]+)\.mobileconfig` \|", (CORPUS / "README.md").read_text(), re.MULTILINE))
    assert files == listed == set(VERDICTS)


@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_corpus_file_gets_its_verdict(name):
    result, decoded = verdict(read(name))
    assert result == VERDICTS[name]
    if decoded is not None:
        forbidden = mobileconfig.check(decoded, "user").user_enrollment == "forbidden"
        assert forbidden == (result[0] == "error")


def test_oversized_upload_is_refused_before_parsing():
    profile = plistlib.loads(read("wifi-wpa2"))
    profile["PayloadDescription"] = "x" * (mobileconfig.MAX_MOBILECONFIG_BYTES + 1)
    assert verdict(plistlib.dumps(profile))[0] == ("refused", OversizedProfileError)


def test_binary_form_is_valid_and_reported_as_binary():
    result, decoded = verdict(plistlib.dumps(plistlib.loads(read("wifi-wpa2")), fmt=plistlib.FMT_BINARY))
    assert result == ("valid",) and decoded.format == "binary" and decoded.signature is None


def test_signed_profile_is_unwrapped_with_its_signer(device_identity):
    result, decoded = verdict(cms.sign(read("exchange"), device_identity))
    assert result == ("valid",) and decoded.format == "xml"
    assert decoded.signature == mobileconfig.Signature(verified=True, subject="CN=device-1")
    assert decoded.identifier == "com.example.exchange"


def test_signed_profile_whose_content_was_changed_is_read_with_a_warning(device_identity):
    signed = bytearray(cms.sign(read("exchange"), device_identity))
    signed[signed.index(b"outlook")] = ord("O")
    result, decoded = verdict(bytes(signed))
    assert result == ("warnings", {("Configuration", None)})
    assert decoded.signature.verified is False and "does not match" in decoded.signature.reason
    assert decoded.profile["PayloadContent"][0]["Host"] == "Outlook.office365.com"


def test_enveloped_profile_is_refused_as_encrypted(device_identity):
    enveloped = (pkcs7.PKCS7EnvelopeBuilder().set_data(read("exchange"))
                 .add_recipient(device_identity.certificate).encrypt(serialization.Encoding.DER, []))
    assert verdict(enveloped)[0] == ("refused", EncryptedProfileError)
    assert verdict(cms.sign(enveloped, device_identity))[0] == ("refused", EncryptedProfileError)


def test_detached_signature_without_content_is_not_a_profile(device_identity):
    with pytest.raises(NotAProfileError, match="detached"):
        mobileconfig.decode(cms.sign(read("exchange"), device_identity, detached=True))
    assert verdict(cms.sign(read("exchange"), device_identity, detached=True))[0] == ("refused", NotAProfileError)


@pytest.mark.parametrize("data", [b"", b"   \n", "text".encode(), b"\x30\x03\x06\x01\x00", b"bplist00",
                                  b"<plist><dict><key>PayloadType</key><string>Other</string></dict></plist>"])
def test_garbage_is_not_a_profile(data):
    assert verdict(data)[0] == ("refused", NotAProfileError)


def test_hostile_variants_of_every_corpus_file_raise_only_declared_errors():
    for name in VERDICTS:
        data = read(name)
        for variant in (data[: len(data) // 3], data[::-1], data.replace(b"dict>", b"array>", 1), data * 2):
            verdict(variant)


def test_an_unknown_variable_in_an_upload_is_an_error_naming_payload_and_key():
    data = read("exchange").replace(b"$MANAGED_APPLE_ID", b"$MANAGED_APPLEID")
    assert verdict(data)[0] == ("error", ("com.apple.eas.account", "UserName"))
