"""The /enroll pages, signed in through the built-in demo IdP (the same OIDC client code as production)."""
from __future__ import annotations

import re

import pytest

from tests.helpers import IOS17, acknowledge, csrf_token_from, demo_sign_in, local_path
from mdm_core.simulator.device import SimulatedDevice
from portal.auth import end_employee_sessions
from portal.extensions import db
from portal.models import AuditEvent, EndUser, EnrollmentGrant, PrivacyAcknowledgement

IOS18 = IOS17.replace("17_5", "18_0").replace("Version/17.5", "Version/18.0")


@pytest.fixture
def settings_api(client, api_token):
    token = api_token("settings")

    def patch(**changes):
        response = client.patch("/api/v1/settings/enrollment", json=changes, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return patch


def test_landing_offers_sign_in_and_names_the_steps(client):
    page = client.get("/enroll", headers={"User-Agent": IOS17})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'href="/auth/login?next=/enroll/privacy"' in html
    assert "Demo mode" in html, "the demo IdP banner shows while it serves"
    assert "Demo mode" in re.search(r"<header\b.*?</header>", html, re.S).group(0), "in a landmark (the header)"
    assert not re.search(r'(src|href)="(https?:)?//', html), "no external resources"


def test_whole_flow_downloads_a_profile_a_device_enrolls_with(employee, app, device_http, api_token):
    assert acknowledge(employee).location == "/enroll/profile"
    page = employee.get("/enroll/profile").get_data(as_text=True)
    assert "Profile Downloaded" in page and "alice@example.org" in page
    response = employee.post("/enroll/profile/download", data={"csrf_token": csrf_token_from(page)})
    assert response.status_code == 200
    assert response.content_type == "application/x-apple-aspen-config"
    assert response.headers["Content-Disposition"] == 'attachment; filename="BYOD-MDM-User-Enrollment.mobileconfig"'
    phone = SimulatedDevice(enrollment_type="user")
    phone.install_profile(response.data, device_http)
    token = api_token("reader", scopes=("read",))
    devices = device_http.get("/api/v1/devices", headers={"Authorization": f"Bearer {token}"}).json()["devices"]
    assert [(d["enrollment_type"], d["enrollment_method"], d["managed_apple_id"]) for d in devices] == \
        [("user", "profile_driven", "alice@example.org")]
    assert "alice@example.org" in employee.get("/enroll/devices").get_data(as_text=True)
    with app.app_context():
        ack = db.session.scalar(db.select(PrivacyAcknowledgement))
        assert ack.disclosure_text.startswith("## What your organisation can see")
        actions = db.session.scalars(db.select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert actions[:3] == ["end_user.signed_in", "enrollment.privacy_acknowledged", "enrollment_profile.minted"]


def test_profile_needs_an_acknowledgement_of_the_current_text(employee, settings_api):
    assert employee.get("/enroll/profile").location == "/enroll/privacy"
    page = employee.get("/enroll/privacy").get_data(as_text=True)
    unticked = employee.post("/enroll/privacy", data={"csrf_token": csrf_token_from(page),
                                                      "version": re.search(r'name="version" value="([^"]+)"', page).group(1)})
    assert unticked.status_code == 400 and "Tick the box" in unticked.get_data(as_text=True)
    acknowledge(employee)
    settings_api(privacy_disclosure="IT can now see more.")
    assert employee.get("/enroll/profile").location == "/enroll/privacy", "a changed text asks again"


def test_stale_disclosure_version_is_refused(employee):
    page = employee.get("/enroll/privacy").get_data(as_text=True)
    response = employee.post("/enroll/privacy", data={"csrf_token": csrf_token_from(page), "version": "old",
                                                      "acknowledge": "yes"})
    assert response.status_code == 409
    box = re.search(r'<input type="checkbox" id="acknowledge"[^>]*>', response.get_data(as_text=True)).group(0)
    assert 'aria-describedby="acknowledge-problem"' in box and 'aria-invalid="true"' in box and "autofocus" in box
    assert 'id="acknowledge-problem"' in response.get_data(as_text=True)
    fresh = employee.get("/enroll/privacy").get_data(as_text=True)
    assert "aria-invalid" not in fresh and "autofocus" not in fresh, "nothing to point at before a refusal"


def test_disabled_method_explains_and_gives_no_profile(employee, settings_api):
    settings_api(profile_driven_enabled=False)
    assert "turned off" in employee.get("/enroll").get_data(as_text=True)
    refused = employee.get("/enroll/privacy")
    assert refused.status_code == 403 and "turned this way of enrolling off" in refused.get_data(as_text=True)
    token = csrf_token_from(employee.get("/enroll").get_data(as_text=True))
    assert employee.post("/enroll/profile/download", data={"csrf_token": token}).status_code == 403


def test_ios_18_gets_account_driven_instructions(client, settings_api):
    settings_api(account_driven_enabled=True)
    html = client.get("/enroll", headers={"User-Agent": IOS18}).get_data(as_text=True)
    assert "Sign In to Work or School Account" in html and "Sign in to continue" not in html
    client.environ_base["HTTP_USER_AGENT"] = IOS18
    demo_sign_in(client)
    assert client.get("/enroll/profile").status_code == 409


def _ios(version: str) -> str:
    """Safari's User-Agent on an iPhone with iOS ``version`` ("12_4")."""
    return IOS17.replace("17_5", version).replace("Version/17.5", f"Version/{version.replace('_', '.')}")


# Apple's schema (mdm/profiles/com.apple.mdm.yaml, key ``ManagedAppleID``: iOS ``introduced: '13.1'``,
# ``removed: '18.0'``) and docs/decisions.md bound the profile's reach at both ends. A phone older than 13.1 does
# not know the ``ManagedAppleID`` key, and the MDM payload it gets has no ``AccessRights`` (which every device
# enrollment before 13.1 requires), so a profile served to it cannot enroll it: it must not be minted either.
@pytest.mark.parametrize("os_version", ["12_4", "13_0"])
def test_a_phone_older_than_ios_13_1_gets_no_profile(employee, app, os_version):
    acknowledge(employee)
    employee.environ_base["HTTP_USER_AGENT"] = IOS17.replace("17_5", os_version).replace("Version/17.5",
                                                                                       f"Version/{os_version[:2]}.0")
    token = csrf_token_from(employee.get("/enroll").get_data(as_text=True))
    response = employee.post("/enroll/profile/download", data={"csrf_token": token})
    assert response.content_type != "application/x-apple-aspen-config", \
        "a User Enrollment profile (ManagedAppleID, no AccessRights) was served to iOS < 13.1"
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(EnrollmentGrant)) == 0
    assert response.status_code == 409 and "Update iOS first" in response.get_data(as_text=True)
    page = employee.get("/enroll/profile")
    assert page.status_code == 409 and "Settings › General › Software Update" in page.get_data(as_text=True)


def test_the_update_ios_page_is_in_the_browsers_language(employee):
    acknowledge(employee)
    employee.environ_base["HTTP_USER_AGENT"] = _ios("12_4")
    page = employee.get("/enroll/profile", headers={"Accept-Language": "de"})
    assert page.status_code == 409 and "Aktualisieren Sie zuerst iOS" in page.get_data(as_text=True)


def test_ios_13_1_still_gets_the_profile(employee):
    acknowledge(employee)
    employee.environ_base["HTTP_USER_AGENT"] = _ios("13_1")
    assert employee.get("/enroll/profile").status_code == 200
    token = csrf_token_from(employee.get("/enroll").get_data(as_text=True))
    response = employee.post("/enroll/profile/download", data={"csrf_token": token})
    assert response.content_type == "application/x-apple-aspen-config"


def test_pages_need_sign_in_and_come_back(client):
    response = client.get("/enroll/devices")
    assert response.status_code == 302 and response.location == "/auth/login?next=/enroll/devices"


def test_cancel_at_the_idp_ends_on_a_clear_page(client):
    page = demo_sign_in(client, action="cancel")
    assert page.status_code == 400 and "Sign-in was cancelled" in page.get_data(as_text=True)


def test_callback_without_a_started_sign_in_is_refused(client):
    page = client.get("/auth/callback?code=x&state=y")
    assert page.status_code == 400 and "Start again" in page.get_data(as_text=True)


@pytest.mark.parametrize("next_path", ["//evil.example", "https://evil.example/x", "/\\evil.example", "javascript:alert(1)"])
def test_next_never_leaves_the_site(client, next_path):
    assert demo_sign_in(client, next_path=next_path).location == "/enroll"


def test_admin_and_api_text_is_shown_inert(client, settings_api):
    settings_api(organization_name='<img src=x onerror="alert(1)">',
                 enrollment_text={"default": "<script>alert(1)</script> [click](javascript:alert(1))"})
    html = client.get("/enroll", headers={"User-Agent": IOS17}).get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html and 'href="javascript:' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_enrollment_text_follows_the_browser_language(client, settings_api):
    settings_api(enrollment_text={"default": "Hello staff", "de": "Hallo Team"})
    assert "Hallo Team" in client.get("/enroll", headers={"Accept-Language": "de-DE,de;q=0.9"}).get_data(as_text=True)
    assert "Hello staff" in client.get("/enroll", headers={"Accept-Language": "fr"}).get_data(as_text=True)


def test_employee_session_is_not_an_admin_session(employee):
    assert employee.get("/admin/").location.startswith("/admin/login")


def test_sign_out_ends_the_employee_session(employee):
    token = csrf_token_from(employee.get("/enroll").get_data(as_text=True))
    employee.post("/auth/logout", data={"csrf_token": token})
    assert employee.get("/enroll/devices").status_code == 302


@pytest.mark.parametrize("state", ["%C3%A9", "forged", ""])
def test_tampered_state_after_a_started_sign_in_ends_on_a_clear_page(client, state):
    client.get("/auth/login?next=/enroll")
    page = client.get(f"/auth/callback?code=x&state={state}")
    assert page.status_code == 400


def test_profiles_fetched_before_any_device_enrolled_cannot_exceed_the_device_limit(employee, settings_api, device_http):
    from mdm_core.simulator.device import SimulatorError

    settings_api(max_devices_per_user=1)
    acknowledge(employee)
    page = employee.get("/enroll/profile").get_data(as_text=True)
    first, second = (employee.post("/enroll/profile/download", data={"csrf_token": csrf_token_from(page)}).data
                     for _ in range(2))
    SimulatedDevice(enrollment_type="user").install_profile(first, device_http)
    with pytest.raises(SimulatorError, match="answered 403"):
        SimulatedDevice(enrollment_type="user").install_profile(second, device_http)


def test_privacy_page_posts_back_to_itself_and_continues(employee):
    html = employee.get("/enroll/privacy").get_data(as_text=True)
    assert '<form method="post" action="/enroll/privacy" id="acknowledge-form">' in html
    assert '<button type="submit">Continue</button>' in html
    assert "Signed in as <strong>alice@example.org</strong>." in html, "Safari names no device"


def test_a_copy_of_the_employee_cookies_stops_working_after_sign_out(app, employee):
    from portal.models import EnrollmentGrant

    acknowledge(employee)
    download_token = csrf_token_from(employee.get("/enroll/profile").get_data(as_text=True))
    copies = {name: employee.get_cookie(name).value for name in ("byod_user_session", app.config["SESSION_COOKIE_NAME"])}
    thief = app.test_client()
    for name, value in copies.items():
        thief.set_cookie(name, value)
    assert thief.get("/me/").status_code == 200, "the copy works while the employee is signed in"

    employee.post("/auth/logout", data={"csrf_token": download_token})
    page = thief.get("/me/")
    assert page.status_code == 302 and page.location.startswith("/auth/login")
    download = thief.post("/enroll/profile/download", data={"csrf_token": download_token})
    assert download.status_code == 302 and download.location.startswith("/auth/login")
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(EnrollmentGrant)) == 0, "no profile was minted"


def test_ending_an_employees_sessions_signs_out_every_browser(app, client):
    from portal.auth import end_employee_sessions
    from portal.models import EndUser

    other = app.test_client()
    for browser in (client, other):
        demo_sign_in(browser)
        assert browser.get("/me/").status_code == 200
    with app.app_context():
        end_employee_sessions(db.session.scalar(db.select(EndUser)))
        db.session.commit()
    assert [browser.get("/me/").status_code for browser in (client, other)] == [302, 302]
    demo_sign_in(client)
    assert client.get("/me/").status_code == 200, "signing in again works"


def test_the_csrf_token_from_before_sign_in_stops_working_after_it(client):
    start = client.get("/auth/login?next=/enroll/devices")
    authorize = local_path(start.location)
    before = csrf_token_from(client.get(authorize).get_data(as_text=True))
    response = client.post(authorize, data={"csrf_token": before, "user": "demo-alice", "action": "sign_in"})
    assert client.get(local_path(response.location)).location == "/enroll/devices"
    assert client.post("/auth/logout", data={"csrf_token": before}).status_code == 400
    assert client.get("/enroll/devices").status_code == 200, "the forged sign-out was refused"
    after = csrf_token_from(client.get("/enroll").get_data(as_text=True))
    assert after != before
    client.post("/auth/logout", data={"csrf_token": after})
    assert client.get("/enroll/devices").status_code == 302


def test_an_organisation_named_in_another_script_names_the_download_in_filename_star(employee, settings_api):
    settings_api(organization_name="Urząd Łódź")
    acknowledge(employee)
    page = employee.get("/enroll/profile").get_data(as_text=True)
    response = employee.post("/enroll/profile/download", data={"csrf_token": csrf_token_from(page)})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="Urz_d-_d_-User-Enrollment.mobileconfig"; '
        "filename*=UTF-8''Urz%C4%85d-%C5%81%C3%B3d%C5%BA-User-Enrollment.mobileconfig")


def test_signing_in_again_after_a_refused_download_lands_on_a_working_page(app, employee):
    """An employee whose session ended while a page was open, and who then submits its form, comes back,
    signed in again, to the form's page, not to its POST-only path (a 405 page for the profile download)."""
    acknowledge(employee)
    token = csrf_token_from(employee.get("/enroll/profile").get_data(as_text=True))
    with app.app_context():  # eight hours passed, or the employee signed out in another tab
        end_employee_sessions(db.session.scalar(db.select(EndUser)))
        db.session.commit()
    refused = employee.post("/enroll/profile/download", data={"csrf_token": token})
    assert refused.status_code == 302 and refused.location.startswith("/auth/login")
    response = employee.get(refused.location)  # on to the (demo) IdP, sign in, back through the callback
    form = employee.get(local_path(response.location))
    signed = employee.post(local_path(response.location),
                           data={"csrf_token": csrf_token_from(form.get_data(as_text=True)), "user": "demo-alice",
                                 "action": "sign_in"})
    back = employee.get(local_path(signed.location))
    assert back.status_code == 302
    landing = employee.get(back.location)
    assert landing.status_code == 200, f"signed in again, the employee lands on {back.location}: {landing.status_code}"
