"""An employee walks Profile-Driven User Enrollment in Chromium at an iPhone viewport; a simulated
iPhone then enrolls with the downloaded profile."""
from __future__ import annotations

import httpx
import pytest

from mdm_core.simulator.device import SimulatedDevice
from portal.auth import end_employee_sessions
from portal.extensions import db
from portal.models import Device, EndUser, PrivacyAcknowledgement

pytestmark = pytest.mark.e2e


def test_employee_enrolls_through_the_real_pages(oidc_app, oidc_provider, live_server, browser_page, api_token):
    oidc_provider.set_accounts({"alice": {"email": "alice@example.org", "name": "Alice <b>Example</b>", "groups": ["staff"]}})
    page = browser_page
    page.goto(f"{live_server}/enroll")
    page.shot("enroll-1-landing")
    page.click("text=Sign in to continue")
    page.wait_for_selector("input[name=login]")
    page.shot("enroll-2-idp-login")
    page.fill("input[name=login]", "alice")
    page.fill("input[name=password]", "any")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Authorize")
    page.shot("enroll-3-idp-consent")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/enroll/privacy")
    assert "IT cannot" in page.inner_text("main")
    page.shot("enroll-4-privacy")
    page.check("#acknowledge")
    page.click("text=Continue")
    page.wait_for_url(f"{live_server}/enroll/profile")
    assert "Profile Downloaded" in page.inner_text("main")
    page.shot("enroll-5-download")
    with page.expect_download() as download_info:
        page.click("#download")
    download = download_info.value
    assert download.suggested_filename.endswith(".mobileconfig")
    profile = open(download.path(), "rb").read()

    phone = SimulatedDevice(enrollment_type="user")
    with httpx.Client(base_url=live_server) as http:
        phone.install_profile(profile, http)
        token = api_token("reader", scopes=("read",))
        devices = http.get("/api/v1/devices", headers={"Authorization": f"Bearer {token}"}).json()["devices"]
    assert [(d["enrollment_type"], d["managed_apple_id"], d["enrollment_id"]) for d in devices] == \
        [("user", "alice@example.org", phone.enrollment_id)]
    with oidc_app.app_context():
        user = db.session.scalar(db.select(EndUser))
        assert db.session.scalar(db.select(Device)).user_id == user.id
        assert db.session.scalar(db.select(PrivacyAcknowledgement)).user_id == user.id

    page.goto(f"{live_server}/enroll/devices")
    assert "alice@example.org" in page.inner_text("main")
    page.shot("enroll-6-my-devices")


def test_ios_18_is_sent_to_account_driven_enrollment(live_server, browser_page):
    page = browser_page
    page.route("**/*", lambda route: route.continue_(headers={
        **route.request.headers,
        "user-agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
                      "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"}))
    page.goto(f"{live_server}/enroll")
    text = page.inner_text("main")
    assert "Apple removed profile download enrollment in iOS and iPadOS 18" in text
    assert page.locator("text=Sign in to continue").count() == 0
    page.shot("enroll-ios18")


# A form an employee submits after their session ended must lead them to sign in again. The pages' policy says
# ``form-action 'self' apple-remotemanagement-user-login:``, and a browser applies form-action to every redirect
# that follows a form submission: the form's POST sent on to sign-in (``/auth/login``), which redirected to the
# organisation's IdP on another origin, was refused by the browser.
def test_submitting_the_privacy_form_after_the_session_ended_reaches_the_idp(oidc_app, oidc_provider, live_server,
                                                                             browser_page):
    oidc_provider.set_accounts({"alice": {"email": "alice@example.org", "name": "Alice", "groups": ["staff"]}})
    page = browser_page
    page.goto(f"{live_server}/enroll")
    page.click("text=Sign in to continue")
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", "alice")
    page.fill("input[name=password]", "any")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Authorize")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/enroll/privacy")

    with oidc_app.app_context():  # the session ends meanwhile (eight hours passed, or a sign-out in another tab)
        end_employee_sessions(db.session.scalar(db.select(EndUser)))
        db.session.commit()
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text) if "form-action" in message.text else None)
    page.check("#acknowledge")
    page.click("text=Continue")
    page.wait_for_timeout(3000)
    assert not blocked, blocked
    # on to the IdP, which (still holding its own session) may send the employee straight back, signed in again
    assert page.url.startswith(oidc_provider.issuer) or page.locator("#acknowledge").count() == 1, \
        f"the browser stopped at {page.url}"
