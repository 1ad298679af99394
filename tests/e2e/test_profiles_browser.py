"""An admin builds a Wi-Fi profile in the forms, scopes it to a group after seeing the preview, and watches a
simulated user-enrolled iPhone of that group install it; the employee then sees it on their page."""
import httpx
import pytest

from tests.e2e.conftest import enroll_phone

pytestmark = pytest.mark.e2e


def test_admin_builds_a_wifi_profile_scopes_it_to_a_group_and_sees_it_installed(live_server, browser_page,
                                                                               sign_in_admin, api_token):
    page = browser_page
    # Carol signs in with the demo identity provider, whose groups claim puts her in "it".
    page.goto(f"{live_server}/me/")
    page.check("input[value=demo-carol]")
    page.click("button[value=sign_in]")
    page.wait_for_url(f"{live_server}/me/")
    token = api_token("e2e-profiles")
    with httpx.Client(base_url=live_server, timeout=30) as http:
        phone = enroll_phone(http, token, "carol@example.org")  # and answered the inventory round

        sign_in_admin(page)
        page.get_by_role("link", name="Profiles").first.click()
        page.get_by_role("link", name="Build a profile").click()

        page.fill("#display_name", "Corporate Wi-Fi")
        page.fill("#identifier", "com.example.corp-wifi")
        page.select_option("#add_kind", "wifi")
        page.click("button[value=add]")
        page.wait_for_selector("#p0-SSID_STR")
        page.fill("#p0-SSID_STR", "Corp-Secure")
        page.select_option("#p0-EncryptionType", "WPA3")
        page.fill("#p0-Password", "correct-horse-battery")
        page.shot("profiles-2-builder")
        page.click("text=Save profile")
        page.wait_for_selector("text=Set its scope to send it to devices")
        assert "allowed" in page.inner_text("#verdict-h + p")

        page.get_by_role("link", name="Scope", exact=True).click()
        page.check("input[name=groups][value=it]")
        page.click("button[value=preview]")
        page.wait_for_selector("#preview")
        assert page.inner_text('[data-preview="added"]') == "1"
        assert page.inner_text('[data-preview="removed"]') == "0"
        page.shot("profiles-3-scope")
        page.click("text=Save scope")
        page.wait_for_selector("text=Scope saved: 1 device added, 0 devices removed.")

        exchanges = phone.poll(http)
        assert [(e.request_type, e.status) for e in exchanges] == [("InstallProfile", "Acknowledged")]
        assert "com.example.corp-wifi" in phone.profiles

    page.get_by_role("link", name="Device status").click()  # the save returned to the profile's page
    assert page.inner_text("[data-device-status]") == "installed"
    assert page.inner_text('[data-count="installed"]') == "1"
    page.shot("profiles-4-status")
    page.goto(f"{live_server}/admin/profiles")
    assert page.inner_text('[data-count="installed"]') == "1"
    page.shot("profiles-1-library")

    page.goto(f"{live_server}/me/")
    assert "Connects to the Wi-Fi network Corp-Secure." in page.inner_text("main")
    page.shot("profiles-5-me")
