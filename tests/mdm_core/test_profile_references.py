"""Certificate references: a key naming a certificate payload by its PayloadUUID must name one of the profile
(an error where Apple's schema says "within the same profile", e.g. mdm/profiles/com.apple.wifi.managed.yaml
PayloadCertificateUUID; a warning where it does not), and the table of such keys follows Apple's schema."""
from __future__ import annotations

import re

import pytest
import yaml

from mdm_core.profile_check import check_profile
from mdm_core.profile_references import EACH, REFERENCES
from tests.mdm_core.schema_tables import SCHEMA_DIR, needs_schemas


def payload(payload_type: str, uuid: str, **keys) -> dict:
    return {"PayloadType": payload_type, "PayloadVersion": 1, "PayloadIdentifier": f"com.example.{uuid}",
            "PayloadUUID": uuid, **keys}


def profile(*payloads: dict) -> dict:
    return {"PayloadType": "Configuration", "PayloadVersion": 1, "PayloadIdentifier": "com.example.profile",
            "PayloadUUID": "TOP", "PayloadDisplayName": "Work", "PayloadContent": list(payloads)}


def wifi(uuid: str, **keys) -> dict:
    return payload("com.apple.wifi.managed", uuid, SSID_STR=f"Corp-{uuid}", AutoJoin=True, EncryptionType="WPA2",
                   **keys)


PKCS12 = payload("com.apple.security.pkcs12", "IDENTITY", PayloadContent=b"p12", Password="secret")
ROOT = payload("com.apple.security.root", "ROOT", PayloadContent=b"der")


def found(report, severity):
    return [(p.payload_type, p.key) for p in report.problems if p.severity == severity]


def test_a_certificate_reference_to_no_payload_of_the_profile_is_an_error():
    eap_tls = wifi("W", PayloadCertificateUUID="6C4D1E2A-0000-4000-8000-00000000DEAD",
                   EAPClientConfiguration={"AcceptEAPTypes": [13]})
    report = check_profile(profile(eap_tls))
    assert not report.valid, report.problems
    assert any(problem.key == "PayloadCertificateUUID" and problem.payload_type == "com.apple.wifi.managed"
               for problem in report.problems)


def test_references_to_certificate_payloads_of_the_profile_pass():
    eap_tls = wifi("W", PayloadCertificateUUID="IDENTITY",
                   EAPClientConfiguration={"AcceptEAPTypes": [13], "PayloadCertificateAnchorUUID": ["ROOT"]})
    report = check_profile(profile(PKCS12, ROOT, eap_tls))
    assert report.valid and found(report, "warning") == [], report.problems


def test_an_array_element_naming_no_payload_is_an_error_with_its_index():
    eap_tls = wifi("W", PayloadCertificateUUID="IDENTITY",
                   EAPClientConfiguration={"AcceptEAPTypes": [13], "PayloadCertificateAnchorUUID": ["ROOT", "GONE"]})
    report = check_profile(profile(PKCS12, ROOT, eap_tls))
    assert found(report, "error") == [
        ("com.apple.wifi.managed", "EAPClientConfiguration.PayloadCertificateAnchorUUID[1]")]


def test_a_reference_to_a_payload_that_holds_no_certificate_is_an_error():
    report = check_profile(profile(wifi("OTHER"), wifi("W", PayloadCertificateUUID="OTHER",
                                                        EAPClientConfiguration={"AcceptEAPTypes": [13]})))
    assert found(report, "error") == [("com.apple.wifi.managed", "PayloadCertificateUUID")]
    assert "not a certificate or identity payload" in report.problems[0].message


def test_a_credential_naming_a_bare_certificate_is_a_warning():
    report = check_profile(profile(ROOT, wifi("W", PayloadCertificateUUID="ROOT",
                                              EAPClientConfiguration={"AcceptEAPTypes": [13]})))
    assert report.valid and found(report, "warning") == [("com.apple.wifi.managed", "PayloadCertificateUUID")]


def test_where_apple_does_not_say_same_profile_a_missing_payload_is_a_warning():
    """com.apple.mail.managed SMIMESigningCertificateUUID: "The payload UUID of the identity certificate used to
    sign messages" (no "within the same profile")."""
    mail = payload("com.apple.mail.managed", "MAIL", EmailAccountType="EmailTypeIMAP",
                   IncomingMailServerHostName="imap.example.com", IncomingMailServerAuthentication="EmailAuthPassword",
                   OutgoingMailServerHostName="smtp.example.com", OutgoingMailServerAuthentication="EmailAuthPassword",
                   SMIMESigningCertificateUUID="ELSEWHERE")
    report = check_profile(profile(mail))
    assert report.valid, report.problems
    assert found(report, "warning") == [("com.apple.mail.managed", "SMIMESigningCertificateUUID")]


def test_the_per_app_vpn_checks_the_vpn_payloads_references():
    vpn = payload("com.apple.vpn.managed.applayer", "VPN", VPNType="IKEv2", UserDefinedName="VPN",
                  VPNUUID="VPN-UUID", IKEv2={"RemoteAddress": "vpn.example.com", "RemoteIdentifier": "vpn",
                                             "AuthenticationMethod": "Certificate", "PayloadCertificateUUID": "NONE"})
    assert ("com.apple.vpn.managed.applayer", "IKEv2.PayloadCertificateUUID") in found(check_profile(profile(vpn)),
                                                                                       "error")


@pytest.mark.parametrize("value", [7, ["IDENTITY"], {"a": 1}])
def test_a_reference_of_the_wrong_type_is_left_to_the_schema_check(value):
    report = check_profile(profile(PKCS12, wifi("W", PayloadCertificateUUID=value)))
    assert found(report, "error").count(("com.apple.wifi.managed", "PayloadCertificateUUID")) == 1


_REFERENCE_KEY = re.compile(r"(?i)(cert|identity)\w*uuids?$")
_SAME_PROFILE = re.compile(r"(within|in) the same profile")
_IDENTITY = re.compile(r"identity|credential")
_NO_IDENTITY = re.compile(r"doesn't support identity")  # education's anchors: "authorize ... peer certificate identities"
# Apple's applayer schema says its keys are "the same as the VPN payload, with the addition of" its own.
_SHARED = {"com.apple.vpn.managed.applayer": "com.apple.vpn.managed"}


def _schema_references() -> dict[str, set[tuple[tuple[str, ...], bool, bool]]]:
    """Each payload type's certificate-reference keys in Apple's YAML: path, takes an identity ("identity" or
    "credential" in its text, unless it says it does not support identities), "same profile" in its text."""
    table: dict[str, set] = {}

    def walk(keys, payload_type, path, depth):
        for key in keys or () if depth < 8 else ():
            name, text = key.get("key"), " ".join(str(key.get("content") or "").split())
            step = (*path, name)
            subkeys = key.get("subkeys") or ()
            is_array_of_strings = key.get("type") == "<array>" and subkeys and subkeys[0].get("type") == "<string>"
            if _REFERENCE_KEY.search(name or "") and key.get("type") in ("<string>", "<array>"):
                table.setdefault(payload_type, set()).add((
                    (*step, EACH) if is_array_of_strings else step,
                    bool(_IDENTITY.search(text) and not _NO_IDENTITY.search(text)), bool(_SAME_PROFILE.search(text))))
            if key.get("type") == "<array>" and subkeys:
                if not is_array_of_strings:
                    walk(subkeys[0].get("subkeys"), payload_type, (*step, EACH), depth + 1)
            else:
                walk(subkeys, payload_type, step, depth + 1)

    for path in sorted((SCHEMA_DIR / "mdm" / "profiles").glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        payload_type = (document.get("payload") or {}).get("payloadtype")
        if payload_type and payload_type != "Configuration":
            walk(document.get("payloadkeys"), payload_type, (), 0)
    for payload_type, base in _SHARED.items():
        table.setdefault(payload_type, set()).update(table.get(base, ()))
    return table


@needs_schemas
def test_the_reference_table_is_apples_schema():
    ours = {payload_type: {(r.path, r.identity, r.same_profile) for r in references}
            for payload_type, references in REFERENCES.items()}
    assert ours == _schema_references()
