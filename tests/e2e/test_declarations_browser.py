"""An admin builds a declaration set in the console and sees each device's status, and uploads a data asset's
file, in headless Chromium."""
import json

import httpx

from tests.e2e.conftest import enroll_phone


def test_admin_creates_a_declaration_set_and_sees_per_device_status(live_server, browser_page, sign_in_admin,
                                                                    api_token):
    token = api_token("e2e-enroller")
    with httpx.Client(base_url=live_server, timeout=30) as http:
        # each: DDM turned on, the inventory round, the first status report
        phones = [enroll_phone(http, token, person) for person in ("dana@example.org", "erin@example.org")]

        page = browser_page
        sign_in_admin(page)

        page.goto(f"{live_server}/admin/declarations")
        page.select_option("#type", "com.apple.configuration.passcode.settings")
        page.fill("#identifier", "e2e.passcode")
        page.fill("#payload", json.dumps({"MinimumLength": 8, "RequirePasscode": True}))
        page.click("form[action$=\"/admin/declarations\"] button[type=submit]")
        page.wait_for_selector("text=Declaration e2e.passcode saved")
        page.fill("#users", "dana@example.org")
        page.click("button:has-text(\"Save scope\")")
        page.wait_for_selector("text=Scope saved: 1 device added, 0 devices removed.")
        for phone in phones:
            phone.poll(http)
        page.reload()
        row = page.locator("tr", has_text="dana@example.org")
        assert row.locator("[data-active]").inner_text() == "active"
        assert "erin@example.org" not in page.content()
        page.shot("ddm-2-declaration")

        page.goto(f"{live_server}/admin/declarations")
        assert page.locator("tr", has_text="e2e.passcode").locator("td").nth(2).inner_text() == "1"
        page.shot("ddm-1-declarations")

        page.locator("tr", has_text="e2e.passcode").get_by_role("link").click()
        row.get_by_role("link", name="dana@example.org").click()
        section = page.locator("#management-path")
        assert "Declarative Device Management" in section.inner_text()
        assert section.locator("[data-passcode]").inner_text() == "not compliant"
        assert "e2e.passcode" in section.inner_text()
        page.shot("ddm-3-device")

        page.goto(f"{live_server}/admin/declarations")
        page.select_option("#type", "com.apple.asset.data")
        page.fill("#identifier", "e2e.notes")
        page.set_input_files("#data", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                              "buffer": b"Read me on the phone.\n"}])
        page.fill("#content_type", "text/plain")
        page.click("form[action$=\"/admin/declarations\"] button[type=submit]")
        page.wait_for_selector("text=Declaration e2e.notes saved")
        payload = json.loads(page.input_value("#payload"))
        assert payload["Reference"]["Size"] == len(b"Read me on the phone.\n")
        assert payload["Reference"]["DataURL"].endswith("/mdm/ddm/assets/e2e.notes")
        page.shot("ddm-4-asset-upload")
