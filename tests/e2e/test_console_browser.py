"""An admin finds a device by search, sends a command and sees its result, in headless Chromium."""
import httpx

from mdm_core.simulator.device import SimulatedDevice


def test_admin_finds_a_device_sends_a_command_and_sees_its_result(live_server, browser_page, make_admin, api_token):
    token = api_token("e2e-enroller")
    with httpx.Client(base_url=live_server, timeout=30) as http:
        profile = http.post("/api/v1/enrollment-profiles", headers={"Authorization": f"Bearer {token}"},
                            json={"enrollment_type": "user", "managed_apple_id": "carol@example.org"})
        assert profile.status_code == 201, profile.text
        phone = SimulatedDevice(enrollment_type="user")
        phone.install_profile(profile.content, http)
        phone.poll(http)  # the inventory round queued at enrollment

        email, password = make_admin()
        page = browser_page
        page.goto(f"{live_server}/admin/login")
        page.fill("#email", email)
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server}/admin/")
        page.shot("console-dashboard")

        page.goto(f"{live_server}/admin/devices")
        page.fill("#q", "carol")
        page.click("form[role=search] button[type=submit]")
        page.get_by_role("link", name="carol@example.org").click()
        page.shot("console-device")
        assert "EraseDevice" not in page.content()

        page.locator("summary", has_text="Lock the screen").click()
        page.fill("#DeviceLock-Message", "Please call IT")
        page.click("text=Send DeviceLock")
        page.wait_for_selector("text=DeviceLock queued")
        exchanges = phone.poll(http)
        assert [e.request_type for e in exchanges] == ["DeviceLock"]
        page.reload()
        row = page.locator("tr", has_text="DeviceLock")
        assert row.locator("[data-command-status]").inner_text() == "acknowledged"
        page.shot("console-command-result")
