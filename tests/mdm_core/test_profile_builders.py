"""Payload builders: every built profile passes the checker for User Enrollment, and every key
they write exists in Apple's schema for that payload type (read from ../shared here)."""
from __future__ import annotations

import datetime
import functools
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from mdm_core import plist
from mdm_core.profile_builders import (
    EAP_PEAP,
    EAP_TLS,
    ACMEIdentity,
    BuildError,
    CalDAVAccount,
    CardDAVAccount,
    EAPClientConfiguration,
    ExchangeActiveSync,
    ExtensibleSSO,
    IKEv2,
    LDAPAccount,
    LDAPSearchSetting,
    MailAccount,
    PasscodePolicy,
    PerAppVPN,
    PKCS1Certificate,
    PKCS12Identity,
    Ref,
    Restrictions,
    RootCertificate,
    SCEPIdentity,
    SubjectAltName,
    SubscribedCalendar,
    VPNProvider,
    WebClip,
    WiFi,
    build_profile,
    restriction_keys,
)
from mdm_core.profile_check import check_profile

SCHEMA_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "apple-device-management" / "mdm" / "profiles"
# Apple's applayer schema says its keys are "the same as the VPN payload, with the addition of" its own.
SCHEMA_ALSO = {"com.apple.vpn.managed.applayer": ("com.apple.vpn.managed",)}


@functools.cache
def certificate_and_key():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example Root CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                   .sign(key, hashes.SHA256()))
    return certificate, key


def pem():
    return certificate_and_key()[0].public_bytes(serialization.Encoding.PEM)


def p12(password=b"secret"):
    certificate, key = certificate_and_key()
    return pkcs12.serialize_key_and_certificates(b"id", key, certificate, None,
                                                 serialization.BestAvailableEncryption(password))


SCEP = SCEPIdentity(name="identity", URL="https://ca.example.com/scep", Subject=(("O", "Example"), ("CN", "$EMAIL")),
                    Challenge="one-time", SubjectAltName=SubjectAltName(rfc822Name="$EMAIL"))
BUILT = {
    "wifi-wpa2": [WiFi(SSID_STR="Guest", Password="correct horse battery staple")],
    "wifi-eap-tls": [SCEP, WiFi(SSID_STR="Corp", EAPClientConfiguration=EAPClientConfiguration(
        AcceptEAPTypes=(EAP_TLS,), TLSTrustedServerNames=("radius.example.com",),
        PayloadCertificateAnchorUUID=(Ref("root"),)), PayloadCertificateUUID=Ref("identity")),
        RootCertificate(name="root", PayloadContent=pem(), PayloadCertificateFileName="root.cer")],
    "wifi-peap": [WiFi(SSID_STR="Corp", EAPClientConfiguration=EAPClientConfiguration(
        AcceptEAPTypes=(EAP_PEAP,), UserName="$USERNAME", OuterIdentity="anonymous"))],
    "exchange": [ExchangeActiveSync(Host="mail.example.com", EmailAddress="$EMAIL", UserName="$MANAGED_APPLE_ID",
                                    MailNumberOfPastDaysToSync=14, EnableNotes=False)],
    "mail": [MailAccount(EmailAccountDescription="Work", EmailAccountName="$FULL_NAME", EmailAddress="$EMAIL",
                         IncomingMailServerHostName="imap.example.com", IncomingMailServerUsername="$USERNAME",
                         OutgoingMailServerHostName="smtp.example.com", OutgoingMailServerUsername="$USERNAME")],
    "caldav": [CalDAVAccount(CalDAVHostName="dav.example.com", CalDAVUsername="$USERNAME", CalDAVPort=443)],
    "carddav": [CardDAVAccount(CardDAVHostName="dav.example.com", CardDAVUsername="$USERNAME")],
    "subscribed-calendar": [SubscribedCalendar(SubCalAccountHostName="https://example.com/holidays.ics",
                                               SubCalAccountDescription="Holidays")],
    "ldap": [LDAPAccount(LDAPAccountHostName="ldap.example.com", LDAPAccountUserName="$USERNAME",
                         LDAPSearchSettings=(LDAPSearchSetting(LDAPSearchSettingSearchBase="ou=people,dc=example,dc=com",
                                                               LDAPSearchSettingDescription="People"),))],
    "per-app-vpn-ikev2": [SCEP, PerAppVPN(UserDefinedName="Work VPN", IKEv2=IKEv2(
        RemoteAddress="vpn.example.com", RemoteIdentifier="vpn.example.com", LocalIdentifier="$EMAIL",
        PayloadCertificateUUID=Ref("identity")), SafariDomains=("intranet.example.com",))],
    "per-app-vpn-provider": [PerAppVPN(UserDefinedName="Vendor VPN", VPNType="VPN", VPNSubType="com.example.vpn",
                                       VPN=VPNProvider(AuthenticationMethod="Password",
                                                       ProviderBundleIdentifier="com.example.vpn.tunnel",
                                                       ProviderType="packet-tunnel"))],
    "certificates": [RootCertificate(PayloadContent=pem()), PKCS1Certificate(PayloadContent=pem()),
                     PKCS12Identity(PayloadContent=p12(), Password="secret", PayloadCertificateFileName="me.p12")],
    "acme": [ACMEIdentity(DirectoryURL="https://acme.example.com/directory", ClientIdentifier="$ENROLLMENT_ID",
                          Subject=(("CN", "$EMAIL"),), Attest=True, SubjectAltName=SubjectAltName(rfc822Name="$EMAIL"))],
    "web-clip": [WebClip(URL="https://intranet.example.com", Label="Intranet", Icon=b"\x89PNG\r\n")],
    "passcode": [PasscodePolicy(minLength=6, requireAlphanumeric=True)],
    "restrictions": [Restrictions(settings={"allowOpenFromManagedToUnmanaged": False, "forceEncryptedBackup": True})],
    "sso-redirect": [ExtensibleSSO(ExtensionIdentifier="com.example.sso.ext", URLs=("https://login.example.com",),
                                   ExtensionData={"tenant": "example"})],
    "sso-credential": [ExtensibleSSO(ExtensionIdentifier="com.example.kerberos.ext", Type="Credential",
                                     Realm="EXAMPLE.COM", Hosts=(".example.com",))],
}


def build(case):
    return build_profile(f"com.example.{case}", BUILT[case], display_name=case, organization="Example")


@pytest.mark.parametrize("case", sorted(BUILT))
def test_built_profile_passes_the_checker_for_user_enrollment(case):
    report = check_profile(build(case), "user")
    assert report.valid and report.user_enrollment == "allowed", report.problems
    plist.dumps(build(case))  # writable as a property list


def test_passcode_tuning_is_kept_but_warned_as_ignored_under_user_enrollment():
    warnings = {problem.key for problem in check_profile(build("passcode"), "user").problems}
    assert warnings == {"minLength", "requireAlphanumeric", "forcePIN"}


@functools.cache
def schema_index():
    """Each payload type's keys, from every YAML file that describes it (extensiblesso has two)."""
    if not SCHEMA_DIR.is_dir():
        pytest.skip("Apple's schema (../shared) is not available")
    index = {}
    for path in sorted(SCHEMA_DIR.glob("*.yaml")):
        document = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        index.setdefault(document["payload"]["payloadtype"], []).extend(document["payloadkeys"])
    return index


def schema_keys(payload_type):
    return schema_index()[payload_type]


def assert_in_schema(value, keys, where):
    by_name = {key["key"]: key for key in keys}
    for name, child in value.items():
        key = by_name.get(name) or by_name.get("ANY")
        assert key is not None, f"{where}.{name} is not in Apple's schema"
        if key["type"] == "<dictionary>" and isinstance(child, dict) and key.get("subkeys"):
            assert_in_schema(child, key["subkeys"], f"{where}.{name}")
        if key["type"] == "<array>" and key.get("subkeys"):
            item = key["subkeys"][0]
            for element in child:
                if isinstance(element, dict):
                    assert_in_schema(element, item.get("subkeys", ()), f"{where}.{name}[]")


@pytest.mark.parametrize("case", sorted(BUILT))
def test_every_key_a_builder_writes_is_in_apples_schema(case):
    profile = build(case)
    assert_in_schema(profile, schema_keys("TopLevel"), "Configuration")
    for payload in profile["PayloadContent"]:
        kind = payload["PayloadType"]
        keys = [*schema_keys(kind), *schema_keys("CommonPayloadKeys")]
        for other in SCHEMA_ALSO.get(kind, ()):
            keys += schema_keys(other)
        assert_in_schema(payload, keys, kind)


def test_identifiers_are_stable_across_edits_and_references_resolve():
    first = build("wifi-eap-tls")
    edited = build_profile("com.example.wifi-eap-tls", [*BUILT["wifi-eap-tls"][:1],
                                                        WiFi(SSID_STR="Corp-5G", EAPClientConfiguration=
                                                             EAPClientConfiguration(), PayloadCertificateUUID=
                                                             Ref("identity")), BUILT["wifi-eap-tls"][2]],
                           display_name="edited")
    uuids = [payload["PayloadUUID"] for payload in first["PayloadContent"]]
    assert uuids == [payload["PayloadUUID"] for payload in edited["PayloadContent"]]
    assert [p["PayloadIdentifier"] for p in first["PayloadContent"]] == [
        "com.example.wifi-eap-tls.identity", "com.example.wifi-eap-tls.wifi.managed.1", "com.example.wifi-eap-tls.root"]
    scep, wifi, root = first["PayloadContent"]
    assert wifi["PayloadCertificateUUID"] == scep["PayloadUUID"]
    assert wifi["EAPClientConfiguration"]["PayloadCertificateAnchorUUID"] == [root["PayloadUUID"]]
    # the top-level UUID names the revision: a changed payload changes it, an unchanged one does not
    assert first["PayloadUUID"] != edited["PayloadUUID"]
    assert first["PayloadUUID"] == build("wifi-eap-tls")["PayloadUUID"]
    assert first["PayloadIdentifier"] == edited["PayloadIdentifier"] == "com.example.wifi-eap-tls"
    assert "PayloadRemovalDisallowed" not in first


def test_scep_keys_live_in_its_payload_content_with_apples_spelling():
    scep = build("wifi-eap-tls")["PayloadContent"][0]["PayloadContent"]
    assert scep["Key Type"] == "RSA" and scep["Key Usage"] == 5 and scep["Keysize"] == 2048
    assert scep["Subject"] == [[["O", "Example"]], [["CN", "$EMAIL"]]]


def test_per_app_vpn_gets_a_stable_vpnuuid_of_its_own():
    vpn = build("per-app-vpn-ikev2")["PayloadContent"][1]
    assert vpn["VPNUUID"] == build("per-app-vpn-ikev2")["PayloadContent"][1]["VPNUUID"] != vpn["PayloadUUID"]


def test_pem_certificates_are_delivered_as_der():
    root, pkcs1, _ = build("certificates")["PayloadContent"]
    expected = certificate_and_key()[0].public_bytes(serialization.Encoding.DER)
    assert root["PayloadContent"] == pkcs1["PayloadContent"] == expected


@pytest.mark.parametrize("payloads, message", [
    ([WiFi(SSID_STR="Corp", EAPClientConfiguration=EAPClientConfiguration())], "EAP-TLS needs PayloadCertificateUUID"),
    ([WiFi(SSID_STR="Corp", PayloadCertificateUUID=Ref("nothing"))], "refers to 'nothing'"),
    ([WiFi(name="guest", SSID_STR="Guest"), WiFi(SSID_STR="Corp", PayloadCertificateUUID=Ref("guest"))],
     "a com.apple.wifi.managed payload, not a certificate or identity payload"),
    ([WiFi(SSID_STR="")], "SSID_STR is required"),
    ([WiFi(name="a", SSID_STR="A"), WiFi(name="a", SSID_STR="B")], "already named 'a'"),
    ([WiFi(name="bad name", SSID_STR="A")], "name 'bad name'"),
    ([RootCertificate(PayloadContent=b"not a certificate")], "not an X.509 certificate"),
    ([PKCS12Identity(PayloadContent=p12(), Password="wrong")], "cannot be opened"),
    ([Restrictions(settings={"allowTeleportation": False})], "unknown key 'allowTeleportation'"),
    ([PerAppVPN(UserDefinedName="VPN")], "VPNType IKEv2 takes the IKEv2 settings"),
    ([WebClip(URL="javascript:alert(1)", Label="x")], "http(s) URL"),
    ([ExtensibleSSO(ExtensionIdentifier="x")], "Redirect extension needs URLs"),
    ([ACMEIdentity(DirectoryURL="https://a", ClientIdentifier="c", Subject=(("CN", "x"),), KeyType="RSA",
                   KeySize=2048)], "hardware-bound"),
    ([MailAccount(IncomingMailServerHostName="imap", OutgoingMailServerHostName="smtp", EmailAddress="a\x00b")],
     "cannot be written"),
    ([], "at least one payload"),
])
def test_contradictory_or_missing_values_are_a_build_error(payloads, message):
    with pytest.raises(BuildError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_profile("com.example.p", payloads, display_name="P")


@pytest.mark.parametrize("identifier", ["", "has space", "x" * 201, "-leading", None])
def test_profile_identifier_must_be_reverse_dns_like(identifier):
    with pytest.raises(BuildError, match="profile identifier"):
        build_profile(identifier, [WiFi(SSID_STR="A")], display_name="P")


def test_restriction_keys_for_user_enrollment_leave_out_the_forbidden_ones():
    user, every = set(restriction_keys("user")), set(restriction_keys(None))
    assert "allowOpenFromManagedToUnmanaged" in user and "allowCamera" in every - user
    assert not any(name.startswith("Payload") for name in every)
