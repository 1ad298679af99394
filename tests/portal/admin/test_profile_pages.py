"""The profile library pages: every page renders, every POST needs its CSRF token, uploads show the
checker's verdict, unknown ids are 404, and what a device or a person typed is shown as text."""
import io
import re

import pytest
from sqlalchemy import select

from mdm_core import cms, mobileconfig, plist
from portal.admin.profiles.builder_fields import KINDS
from portal.extensions import db
from portal.models import AuditEvent, EndUser, Profile, ProfileState
from portal.pki import profile_signer
from tests.helpers import PROFILE_CORPUS, csrf_token_from

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def page(client, path, status=200):
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code)
    return response.get_data(as_text=True)


def post(client, path, data, token_page="/admin/profiles", follow=False):
    data = {"csrf_token": csrf_token_from(page(client, token_page)), **data}
    return client.post(path, data=data, content_type="multipart/form-data", follow_redirects=follow)


def upload(client, name_or_bytes, **fields):
    data = (PROFILE_CORPUS / f"{name_or_bytes}.mobileconfig").read_bytes() if isinstance(name_or_bytes, str) \
        else name_or_bytes
    return post(client, "/admin/profiles/upload", {"profile": (io.BytesIO(data), "p.mobileconfig"), **fields},
                token_page="/admin/profiles/upload")


def uploaded_id(response):
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(re.search(r"/admin/profiles/(\d+)$", response.location).group(1))


def test_library_lists_profiles_with_kinds_verdict_and_status_counts(app, admin_client, seed):
    assert "No profiles yet" in page(admin_client, "/admin/profiles")
    wifi = uploaded_id(upload(admin_client, "wifi-wpa2"))
    uploaded_id(upload(admin_client, "passcode-ue-ignored"))
    devices = seed(3)
    with app.app_context():
        db.session.add_all([ProfileState(profile_id=wifi, device_id=d, operation="install", status=s)
                            for d, s in zip(devices, ("installed", "installed", "failed"))])
        db.session.commit()
    html = page(admin_client, "/admin/profiles")
    assert 'href="/admin/profiles"' in html and 'aria-current="page"' in html, "linked from the navigation"
    assert "Wi-Fi" in html and "Passcode policy" in html and "4 warnings" in html
    row = html[html.index("Wi-Fi"):html.index("Passcode policy")]
    assert re.search(r'data-count="installed">2<', row) and re.search(r'data-count="failed">1<', row)
    first = page(admin_client, "/admin/profiles?limit=1")
    assert 'rel="next"' in first and "Passcode policy" not in first
    assert "Passcode policy" in page(admin_client, f"/admin/profiles?limit=1&cursor={wifi}")


@pytest.mark.parametrize("name, status, verdict", [
    ("wifi-wpa2", 303, "allowed"),
    ("passcode-ue-ignored", 303, "minLength"),
    ("full-device-vpn", 303, "cannot be scoped to user-enrolled devices"),
    ("wifi-with-proxy", 303, "ProxyType"),
    ("encrypted-payload-content", 422, "encrypted"),
    ("malformed-xml", 400, "not a configuration profile"),
    ("billion-laughs", 400, "Not saved"),
    ("binary-cycle", 400, "Not saved"),
    ("non-dict-root", 400, "Not saved"),
])
def test_upload_shows_the_checkers_verdict(admin_client, name, status, verdict):
    response = upload(admin_client, name)
    assert response.status_code == status
    html = page(admin_client, response.location) if status == 303 else response.get_data(as_text=True)
    assert verdict in html


def test_upload_refuses_an_oversized_file_and_a_missing_one_without_saving(app, admin_client):
    big = (PROFILE_CORPUS / "wifi-wpa2.mobileconfig").read_bytes() + b" " * mobileconfig.MAX_MOBILECONFIG_BYTES
    assert upload(admin_client, big).status_code == 413
    response = post(admin_client, "/admin/profiles/upload", {}, token_page="/admin/profiles/upload")
    assert response.status_code == 400 and "choose a .mobileconfig file" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Profile)).all() == []


def test_a_signed_upload_is_accepted_and_the_download_is_what_devices_receive(app, admin_client):
    with app.app_context():
        signed = cms.sign((PROFILE_CORPUS / "exchange.mobileconfig").read_bytes(), profile_signer())
    profile_id = uploaded_id(upload(admin_client, signed))
    response = admin_client.get(f"/admin/profiles/{profile_id}/download")
    assert response.status_code == 200 and response.content_type == "application/x-apple-aspen-config"
    verified = cms.verify(response.data)
    content = plist.loads(verified.content)
    assert content["PayloadContent"][0]["EmailAddress"] == "$EMAIL", "the template: variables unfilled"


def test_the_download_for_one_device_has_its_values_filled_and_a_missing_value_is_said(app, admin_client, seed):
    profile_id = uploaded_id(upload(admin_client, "exchange"))
    [device] = seed(1, managed_apple_id="dana@example.org")
    with app.app_context():
        db.session.add(EndUser(issuer="https://idp.example", subject="dana", managed_apple_id="dana@example.org",
                               email="dana.w@example.org"))
        db.session.commit()
    response = admin_client.get(f"/admin/profiles/{profile_id}/download?device={device}")
    payload = plist.loads(cms.verify(response.data).content)["PayloadContent"][0]
    assert payload["EmailAddress"] == "dana.w@example.org"
    [stranger] = seed(1, managed_apple_id="nobody@example.org")
    refused = admin_client.get(f"/admin/profiles/{profile_id}/download?device={stranger}", follow_redirects=True)
    assert "Not downloaded" in refused.get_data(as_text=True) and "EMAIL" in refused.get_data(as_text=True)
    unknown = admin_client.get(f"/admin/profiles/{profile_id}/download?device=x", follow_redirects=True)
    assert "no device x" in unknown.get_data(as_text=True)


def test_every_profile_page_renders_and_unknown_or_deleted_ids_are_404(app, admin_client, seed):
    [device] = seed(1)
    profile_id = uploaded_id(upload(admin_client, "wifi-eap-tls-scep"))
    for path in ("", "/scope", "/status", "/edit", "/download"):
        assert admin_client.get(f"/admin/profiles/{profile_id}{path}").status_code in (200, 303)
        assert admin_client.get(f"/admin/profiles/999999{path}").status_code == 404
    for path in ("/admin/profiles/new", "/admin/profiles/upload", "/admin/smart-groups", f"/admin/devices/{device}"):
        page(admin_client, path)
    for slug in KINDS:
        assert f"p0.kind\" value=\"{slug}\"" in page(admin_client, f"/admin/profiles/new?kind={slug}")
    post(admin_client, f"/admin/profiles/{profile_id}/delete", {"confirm": "yes"})
    assert admin_client.get(f"/admin/profiles/{profile_id}").status_code == 404
    assert admin_client.post("/admin/profiles/999999/delete").status_code in (400, 404)


def test_every_post_needs_the_csrf_token(app, admin_client, seed):
    profile_id = uploaded_id(upload(admin_client, "wifi-wpa2"))
    for path in ("/admin/profiles/upload", "/admin/profiles/new", f"/admin/profiles/{profile_id}/edit",
                 f"/admin/profiles/{profile_id}/replace", f"/admin/profiles/{profile_id}/delete",
                 f"/admin/profiles/{profile_id}/scope", "/admin/smart-groups"):
        response = admin_client.post(path, data={"confirm": "yes", "action": "save", "all_user_enrolled": "on",
                                                 "name": "x"})
        assert response.status_code == 400, path
    with app.app_context():
        assert db.session.get(Profile, profile_id).deleted_at is None
        assert [e.action for e in db.session.scalars(select(AuditEvent))] == ["admin.login", "profile.created"]


def test_delete_needs_confirmation_then_removes_and_is_audited(app, admin_client):
    profile_id = uploaded_id(upload(admin_client, "wifi-wpa2"))
    post(admin_client, f"/admin/profiles/{profile_id}/delete", {})
    assert page(admin_client, f"/admin/profiles/{profile_id}")
    response = post(admin_client, f"/admin/profiles/{profile_id}/delete", {"confirm": "yes"}, follow=True)
    assert "being removed from every device" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Profile, profile_id).deleted_at is not None
        events = [(e.actor, e.action) for e in db.session.scalars(select(AuditEvent))]
    assert ("admin@example.org", "profile.deleted") in events


def test_replace_by_upload_keeps_the_identifier(app, admin_client):
    profile_id = uploaded_id(upload(admin_client, "wifi-wpa2"))
    other = (PROFILE_CORPUS / "caldav.mobileconfig").read_bytes()
    response = post(admin_client, f"/admin/profiles/{profile_id}/replace",
                    {"profile": (io.BytesIO(other), "c.mobileconfig")}, follow=True)
    assert "upload it as a new profile" in response.get_data(as_text=True)
    edited = plist.loads((PROFILE_CORPUS / "wifi-wpa2.mobileconfig").read_bytes())
    edited["PayloadContent"][0]["SSID_STR"] = "Guest-2"
    response = post(admin_client, f"/admin/profiles/{profile_id}/replace",
                    {"profile": (io.BytesIO(plist.dumps(edited)), "w.mobileconfig")}, follow=True)
    assert "Profile replaced" in response.get_data(as_text=True)


def test_hostile_names_and_device_errors_are_shown_as_text(app, admin_client, seed):
    profile = plist.loads((PROFILE_CORPUS / "wifi-wpa2.mobileconfig").read_bytes())
    profile["PayloadDisplayName"] = HOSTILE
    profile["PayloadContent"][0]["PayloadDisplayName"] = HOSTILE
    profile_id = uploaded_id(upload(admin_client, plist.dumps(profile)))
    [device] = seed(1, device_name=HOSTILE)
    with app.app_context():
        db.session.add(ProfileState(profile_id=profile_id, device_id=device, operation="install", status="failed",
                                    attempts=1, error=HOSTILE, error_chain=[
                                        {"ErrorDomain": HOSTILE, "ErrorCode": 4029, "USEnglishDescription": HOSTILE}]))
        db.session.commit()
    post(admin_client, "/admin/smart-groups", {"name": HOSTILE})
    for path in ("/admin/profiles", f"/admin/profiles/{profile_id}", f"/admin/profiles/{profile_id}/status",
                 f"/admin/profiles/{profile_id}/scope", f"/admin/devices/{device}", "/admin/smart-groups",
                 f"/admin/profiles/{profile_id}/edit"):
        html = admin_client.get(path, follow_redirects=True).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, path
    assert "&lt;script&gt;" in page(admin_client, f"/admin/profiles/{profile_id}/status")
    device_page = page(admin_client, f"/admin/devices/{device}")
    assert "Configuration profiles" in device_page and 'data-profile-status="%d">failed' % profile_id in device_page
    assert "(&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; 4029)" in device_page


def test_a_profile_whose_identifier_has_letters_past_latin_1_downloads_with_a_sendable_header(admin_client):
    """PEP 3333 wants header values in ISO-8859-1; gunicorn writes them with ``.encode("latin-1")``, so a
    character past U+00FF in the header turns the download into a 500. The name goes in ``filename*``."""
    content = plist.loads((PROFILE_CORPUS / "wifi-wpa2.mobileconfig").read_bytes())
    content["PayloadIdentifier"] = "pl.firma.wifi-łódź"  # printable, accepted by the upload
    profile_id = uploaded_id(upload(admin_client, plist.dumps(content)))
    response = admin_client.get(f"/admin/profiles/{profile_id}/download")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    try:
        disposition.encode("latin-1")
    except UnicodeEncodeError:
        raise AssertionError(f"Content-Disposition {disposition!r} cannot be sent by a WSGI server") from None
    assert disposition == ('attachment; filename="pl.firma.wifi-_d_.mobileconfig"; '
                           "filename*=UTF-8''pl.firma.wifi-%C5%82%C3%B3d%C5%BA.mobileconfig")
