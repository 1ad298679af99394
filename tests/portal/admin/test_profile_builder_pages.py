"""The profile builder pages: a profile of several payloads built in one form, errors next to their field
with every value kept, and an edit that keeps the identifier."""
import base64
import io
import re

from sqlalchemy import select

from mdm_core import mobileconfig
from mdm_core.user_identity import SCEP_URL_MARKER
from portal.extensions import db
from portal.models import AuditEvent, Profile
from tests.helpers import PROFILE_CORPUS, csrf_token_from

EAP_TLS_WIFI = {
    "display_name": "Corporate Wi-Fi", "identifier": "com.example.corp-wifi",
    "p0.kind": "scep", "p0.name": "identity", "p0.user_identity_ca": "on", "p0.Keysize": "2048",
    "p0.KeyType": "RSA", "p0.KeyUsage": "5", "p0.Subject": "O=Example, CN=$EMAIL",
    "p1.kind": "wifi", "p1.name": "wifi", "p1.SSID_STR": "Corp-Secure", "p1.EncryptionType": "WPA2",
    "p1.EAPClientConfiguration.AcceptEAPTypes": "13", "p1.PayloadCertificateUUID": "identity",
}


def builder(client, data, path="/admin/profiles/new"):
    token = csrf_token_from(client.get(path).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data}, content_type="multipart/form-data")


def stored(app, identifier):
    with app.app_context():
        profile = db.session.scalar(select(Profile).where(Profile.identifier == identifier))
        return profile.id, profile.source, mobileconfig.decode(profile.content).profile


def test_adding_payloads_keeps_what_was_typed_and_offers_the_others_as_certificates(admin_client):
    html = builder(admin_client, {"display_name": "Corp", "identifier": "com.example.corp", "p0.kind": "wifi",
                                  "p0.name": "wifi", "p0.SSID_STR": "Corp-Secure", "action": "add",
                                  "add_kind": "scep"}).get_data(as_text=True)
    assert 'value="Corp-Secure"' in html and 'value="com.example.corp"' in html
    assert 'name="p1.kind" value="scep"' in html
    certificate = re.search(r'<select id="p0-PayloadCertificateUUID".*?</select>', html, re.S).group(0)
    assert '<option value="scep" >scep</option>' in certificate, "the new payload is offered as the certificate"
    assert "$EMAIL" in html and "$USERNAME" in html, "variables are explained"
    removed = builder(admin_client, {"display_name": "Corp", "identifier": "com.example.corp", "p0.kind": "wifi",
                                     "p0.SSID_STR": "Corp-Secure", "p1.kind": "scep", "action": "remove-0"})
    assert 'name="p0.kind" value="scep"' in removed.get_data(as_text=True)


def test_an_eap_tls_wifi_with_the_user_identity_ca_is_built_saved_and_audited(app, admin_client):
    response = builder(admin_client, {**EAP_TLS_WIFI, "action": "save"})
    assert response.status_code == 303, response.get_data(as_text=True)
    profile_id, source, content = stored(app, "com.example.corp-wifi")
    assert response.location.endswith(f"/admin/profiles/{profile_id}") and source == "builder"
    scep, wifi = content["PayloadContent"]
    assert scep["PayloadContent"]["URL"] == SCEP_URL_MARKER
    assert scep["PayloadContent"]["Subject"] == [[["O", "Example"]], [["CN", "$EMAIL"]]]
    assert wifi["SSID_STR"] == "Corp-Secure" and wifi["PayloadCertificateUUID"] == scep["PayloadUUID"]
    assert wifi["EAPClientConfiguration"] == {"AcceptEAPTypes": [13]}
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.actor).where(AuditEvent.action == "profile.created")) \
            == "admin@example.org"


def test_errors_show_next_to_their_field_and_nothing_is_saved(app, admin_client):
    data = {**EAP_TLS_WIFI, "p1.SSID_STR": "", "p0.Keysize": "9999", "p1.PayloadCertificateUUID": "nope",
            "action": "save"}
    response = builder(admin_client, data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'id="p1-SSID_STR-error">required<', html)
    assert re.search(r'id="p0-Keysize-error">choose from the list<', html)
    assert re.search(r'id="p1-PayloadCertificateUUID-error">choose a certificate payload of this profile<', html)
    assert 'value="O=Example, CN=$EMAIL"' in html, "input kept"
    eap_without_identity = builder(admin_client, {**EAP_TLS_WIFI, "p1.PayloadCertificateUUID": "", "action": "save"})
    assert "EAP-TLS needs PayloadCertificateUUID" in eap_without_identity.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Profile)).all() == []


def test_a_certificate_field_offers_and_takes_only_certificate_payloads(app, admin_client):
    guest = {"p2.kind": "wifi", "p2.name": "guest", "p2.SSID_STR": "Guest", "p2.EncryptionType": "None"}
    response = builder(admin_client, {**EAP_TLS_WIFI, **guest, "p1.PayloadCertificateUUID": "guest", "action": "save"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'id="p1-PayloadCertificateUUID-error">choose a certificate payload of this profile<', html)
    choices = re.search(r'<select id="p1-PayloadCertificateUUID"[^>]*>(.*?)</select>', html, re.S).group(1)
    assert 'value="identity"' in choices and 'value="guest"' not in choices
    with app.app_context():
        assert db.session.scalars(select(Profile)).all() == []


def test_every_kind_builds_from_a_filled_form(app, admin_client):
    certificate = base64.b64encode(plain_certificate()).decode()
    forms = {
        "exchange": {"Host": "mail.example.com", "EmailAddress": "$EMAIL"},
        "mail": {"IncomingMailServerHostName": "imap.example.com", "OutgoingMailServerHostName": "smtp.example.com"},
        "caldav": {"CalDAVHostName": "cal.example.com"}, "carddav": {"CardDAVHostName": "dav.example.com"},
        "subscribed_calendar": {"SubCalAccountHostName": "https://example.com/holidays.ics"},
        "ldap": {"LDAPAccountHostName": "ldap.example.com", "LDAPSearchSettings.LDAPSearchSettingSearchBase": "o=x"},
        "per_app_vpn": {"UserDefinedName": "Work VPN", "IKEv2.RemoteAddress": "vpn.example.com",
                        "IKEv2.RemoteIdentifier": "vpn.example.com", "IKEv2.LocalIdentifier": "$EMAIL",
                        "IKEv2.AuthenticationMethod": "SharedSecret", "IKEv2.SharedSecret": "s3cret"},
        "root_certificate": {"PayloadContent.kept": certificate},
        "acme": {"DirectoryURL": "https://acme.example.com/dir", "ClientIdentifier": "$ENROLLMENT_ID",
                 "Subject": "CN=$EMAIL"},
        "web_clip": {"URL": "https://intranet.example.com", "Label": "Intranet"},
        "passcode": {"forcePIN": "true", "minLength": "6"},
        "restrictions": {"settings.allowScreenShot": "false"},
        "sso": {"ExtensionIdentifier": "com.example.sso", "URLs": "https://login.example.com"},
    }
    for index, (slug, fields) in enumerate(forms.items()):
        data = {"display_name": slug, "identifier": f"com.example.{index}", "p0.kind": slug, "action": "save",
                **{f"p0.{key}": value for key, value in fields.items()}}
        response = builder(admin_client, data)
        assert response.status_code == 303, (slug, re.findall(r'field-error[^>]*>([^<]*)', response.get_data(as_text=True)))
        edit = admin_client.get(f"{response.location}/edit")
        assert edit.status_code == 200, slug  # every built profile opens again in the builder


def test_editing_keeps_the_identifier_and_changes_the_revision_only_when_content_changes(app, admin_client):
    builder(admin_client, {**EAP_TLS_WIFI, "action": "save"})
    profile_id, _, before = stored(app, "com.example.corp-wifi")
    path = f"/admin/profiles/{profile_id}/edit"
    html = admin_client.get(path).get_data(as_text=True)
    assert 'value="Corp-Secure"' in html and "readonly" in html and 'id="p0-user_identity_ca" name="p0.user_identity_ca" checked' in html
    same = builder(admin_client, {**EAP_TLS_WIFI, "action": "save"}, path)
    assert same.status_code == 303
    assert "Nothing changed" in admin_client.get(same.location).get_data(as_text=True)
    changed = builder(admin_client, {**EAP_TLS_WIFI, "identifier": "com.example.other", "p1.SSID_STR": "Corp-2",
                                     "action": "save"}, path)
    assert "devices that have it get it again" in admin_client.get(changed.location).get_data(as_text=True)
    _, _, after = stored(app, "com.example.corp-wifi")
    assert after["PayloadContent"][1]["SSID_STR"] == "Corp-2" and after["PayloadUUID"] != before["PayloadUUID"]


def test_a_profile_the_builder_cannot_hold_is_edited_by_upload(app, admin_client):
    token = csrf_token_from(admin_client.get("/admin/profiles/upload").get_data(as_text=True))
    data = (PROFILE_CORPUS / "wifi-with-proxy.mobileconfig").read_bytes()
    response = admin_client.post("/admin/profiles/upload", data={"csrf_token": token,
                                                                 "profile": (io.BytesIO(data), "p.mobileconfig")},
                                 content_type="multipart/form-data")
    edit = admin_client.get(f"{response.location}/edit", follow_redirects=True)
    assert "edit it by uploading a new file" in edit.get_data(as_text=True)


def plain_certificate() -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    from mdm_core.ca import create_ca

    return create_ca("Example Root", "Example").certificate.public_bytes(Encoding.DER)
